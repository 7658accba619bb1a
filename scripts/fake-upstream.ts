// Serves the test fixtures as an OpenWrt download server, for trying the
// tiers without the internet: UPSTREAM_URL=http://127.0.0.1:8010 pnpm start:prepare
import { startFakeUpstream } from "../test/support/fake-upstream.ts";

const upstream = await startFakeUpstream({ port: Number(process.env.PORT ?? 8010) });
process.stdout.write(`fake upstream serving test/fixtures/upstream at ${upstream.url}\n`);
const stop = () => void upstream.close().then(() => process.exit(0));
process.once("SIGINT", stop);
process.once("SIGTERM", stop);

// Installs (or prints, or removes) the host firewall guard of the build
// network: run as root on the Podman host, after `podman network create`
// and again after every boot or recreation of the network.
import { parseArgs } from "node:util";
import {
  guardBuildNetwork,
  guardRemoval,
  unguardBuildNetwork,
} from "../packages/build-worker/src/build-network-guard.ts";

const USAGE = `usage: pnpm guard:build-network -- [--network NAME] [--allow-port PORT]... [--print | --remove]
  --network     the build network (default: CONTAINER_NETWORK, else asu-build)
  --allow-port  a TCP port on the host that builds must still reach (a package cache on the host)
  --print       print the nftables script instead of applying it (for /etc/nftables.conf)
  --remove      remove the guard`;

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== "--"),
  options: {
    network: { type: "string", default: process.env.CONTAINER_NETWORK || "asu-build" },
    "allow-port": { type: "string", multiple: true, default: [] },
    print: { type: "boolean", default: false },
    remove: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});

if (values.help) {
  process.stdout.write(`${USAGE}\n`);
} else if (values.remove) {
  if (values.print) process.stdout.write(guardRemoval(values.network));
  else await unguardBuildNetwork(values.network);
} else {
  const script = await guardBuildNetwork(values.network, {
    allowTcpPorts: values["allow-port"].map(Number),
    print: values.print,
  });
  process.stdout.write(values.print ? script : `guarded the build network ${values.network}\n`);
}

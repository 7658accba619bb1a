import type Docker from "dockerode";
import { tarArchive } from "./imagebuilder-double.ts";

/*
 * Stand-ins for the ImageBuilder's host tools (staging_dir/host/bin), which
 * the double lacks. They change the image the way real signing does (a
 * trailer appended) and record what they were given, so a test can tell
 * which images were signed with which key.
 */
const USIGN = `#!/bin/sh
# usign -S -m IMAGE -s KEY -x SIG
echo "signature by $(tail -n 1 "$5") of $(sha256sum "$3" | cut -d' ' -f1)" >"$7"
`;
const UCERT = `#!/bin/sh
# ucert -A -c CERT -x SIG
cat "$5" >>"$3"
`;
const FWTOOL = `#!/bin/sh
# fwtool -S CERT IMAGE appends; fwtool -t -s FILE IMAGE finds no signature to strip
case "$1" in
  -S) cat "$2" >>"$3" ;;
  *) echo "no signature found" >&2; exit 1 ;;
esac
`;

const TOOLS_DIR = "builder/staging_dir/host/bin";

/** Commits `baseImage` plus the fake signing tools as `ref`; returns `ref`. */
export async function buildSigningDouble(
  docker: Docker,
  baseImage: string,
  ref: string,
): Promise<string> {
  const container = await docker.createContainer({ Image: baseImage, Cmd: ["sleep", "60"] });
  try {
    await container.start();
    const owner = { uid: 1000, gid: 1000 };
    const tool = (name: string, content: string) => ({
      path: `${TOOLS_DIR}/${name}`,
      kind: "file" as const,
      mode: 0o755,
      content: Buffer.from(content),
      ...owner,
    });
    await container.putArchive(
      tarArchive([
        { path: "builder/staging_dir", kind: "dir", mode: 0o755, ...owner },
        { path: "builder/staging_dir/host", kind: "dir", mode: 0o755, ...owner },
        { path: TOOLS_DIR, kind: "dir", mode: 0o755, ...owner },
        tool("usign", USIGN),
        tool("ucert", UCERT),
        tool("fwtool", FWTOOL),
      ]),
      { path: "/" },
    );
    const [repo, tag] = [ref.slice(0, ref.lastIndexOf(":")), ref.slice(ref.lastIndexOf(":") + 1)];
    await container.commit({ repo, tag, pause: false });
  } finally {
    await container.remove({ force: true });
  }
  return ref;
}

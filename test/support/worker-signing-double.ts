import { createHash } from "node:crypto";
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
const TOOLS: [name: string, content: string][] = [
  ["usign", USIGN],
  ["ucert", UCERT],
  ["fwtool", FWTOOL],
];

/**
 * Commits `baseImage` plus the fake signing tools and tags the result as
 * `ref`; returns `ref`. The commit is kept under a tag named by its inputs
 * (base image id and tools) and reused by later runs: committing afresh
 * each run would leave the previous run's image dangling.
 */
export async function buildSigningDouble(
  docker: Docker,
  baseImage: string,
  ref: string,
): Promise<string> {
  const repo = ref.slice(0, ref.lastIndexOf(":"));
  const tag = ref.slice(ref.lastIndexOf(":") + 1);
  const base = await docker.getImage(baseImage).inspect();
  const inputs = createHash("sha256").update(base.Id);
  for (const [name, content] of TOOLS) inputs.update(`\0${name}\0${content}`);
  const cacheTag = `tools-${inputs.digest("hex").slice(0, 32)}`;
  const cacheRef = `${repo}:${cacheTag}`;
  if (!(await imageExists(docker, cacheRef))) {
    const committed = await commitTools(docker, baseImage);
    // A concurrent run may have committed the same inputs meanwhile: keep
    // one of the two, and remove ours rather than leave it dangling.
    if (await imageExists(docker, cacheRef)) {
      await docker.getImage(committed).remove({ force: true });
    } else {
      await docker.getImage(committed).tag({ repo, tag: cacheTag });
    }
  }
  await docker.getImage(cacheRef).tag({ repo, tag });
  return ref;
}

async function imageExists(docker: Docker, ref: string): Promise<boolean> {
  return docker
    .getImage(ref)
    .inspect()
    .then(
      () => true,
      (error: { statusCode?: number }) => {
        if (error.statusCode === 404) return false;
        throw error;
      },
    );
}

/** `baseImage` with the tools added, committed untagged; returns its id. */
async function commitTools(docker: Docker, baseImage: string): Promise<string> {
  const container = await docker.createContainer({ Image: baseImage, Cmd: ["sleep", "60"] });
  try {
    await container.start();
    const owner = { uid: 1000, gid: 1000 };
    const tool = ([name, content]: [string, string]) => ({
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
        ...TOOLS.map(tool),
      ]),
      { path: "/" },
    );
    const { Id } = (await container.commit({ pause: false })) as { Id: string };
    return Id;
  } finally {
    await container.remove({ force: true });
  }
}

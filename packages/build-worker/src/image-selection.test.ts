import { describe, expect, it } from "vitest";
import { BuildFailure, FAILURE_DETAILS } from "./build-failure.ts";
import { selectImage } from "./image-selection.ts";

const RELEASE = "b:ath79-generic-v24.10.1";
const BRANCH = "b:ath79-generic-openwrt-24.10";
const MASTER = "b:ath79-generic-master";

/** ensure() over a set of images that exist; records what was asked. */
function images(existing: string[]) {
  const asked: string[] = [];
  const ensure = async (image: string) => {
    asked.push(image);
    if (!existing.includes(image)) {
      throw new BuildFailure(FAILURE_DETAILS.imageNotFound(image), "", "", { imageMissing: true });
    }
    return `id-of-${image}`;
  };
  return { asked, ensure };
}

const data = { image: RELEASE, fallbackImages: [BRANCH, MASTER] };

describe("selectImage", () => {
  it("takes the release's own image when it exists", async () => {
    const { asked, ensure } = images([RELEASE, BRANCH]);
    expect(await selectImage(data, ensure)).toEqual({
      image: RELEASE,
      imageId: `id-of-${RELEASE}`,
      fallback: false,
    });
    expect(asked).toEqual([RELEASE]);
  });

  it("falls back to the branch's snapshot image, else master", async () => {
    expect(await selectImage(data, images([BRANCH, MASTER]).ensure)).toEqual({
      image: BRANCH,
      imageId: `id-of-${BRANCH}`,
      fallback: true,
    });
    const { asked, ensure } = images([MASTER]);
    expect(await selectImage(data, ensure)).toEqual({
      image: MASTER,
      imageId: `id-of-${MASTER}`,
      fallback: true,
    });
    expect(asked).toEqual([RELEASE, BRANCH, MASTER]);
  });

  it("answers the release image's Image not found when no image exists", async () => {
    const failure = await selectImage(data, images([]).ensure).catch((error) => error);
    expect(failure).toBeInstanceOf(BuildFailure);
    expect(failure.detail).toBe(FAILURE_DETAILS.imageNotFound(RELEASE));
    expect(failure.signals.imageMissing).toBe(true);
  });

  it("has no fallback for snapshots, and passes other errors on", async () => {
    const failure = await selectImage({ image: MASTER }, images([]).ensure).catch((e) => e);
    expect(failure.detail).toBe(FAILURE_DETAILS.imageNotFound(MASTER));
    const broken = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    await expect(
      selectImage(data, async () => {
        throw broken;
      }),
    ).rejects.toBe(broken);
  });
});

import type Docker from "dockerode";
import { describe, expect, it } from "vitest";
import {
  BUILD_LABEL,
  QUEUE_LABEL,
  removeLeftovers,
  WARM_BUILD,
  WORKER_LABEL,
} from "./imagebuilder-session.ts";

const NOW = 1_800_000_000_000;

interface Listed {
  Id: string;
  Created: number;
  Labels: Record<string, string>;
  Names?: string[];
}

function fakeDocker(containers: Listed[]) {
  const removed: string[] = [];
  const filters: unknown[] = [];
  const docker = {
    async listContainers(options: { filters: unknown }) {
      filters.push(options.filters);
      return containers;
    },
    getContainer: (id: string) => ({
      async remove(options: object) {
        expect(options).toEqual({ force: true, v: true });
        if (id === "gone") throw Object.assign(new Error("no such container"), { statusCode: 404 });
        removed.push(id);
      },
    }),
  } as unknown as Docker;
  return { docker, removed, filters };
}

describe("removeLeftovers", () => {
  const seconds = NOW / 1000;
  const containers: Listed[] = [
    { Id: "mine-new", Created: seconds - 5, Labels: { [BUILD_LABEL]: "h1", [WORKER_LABEL]: "w1" } },
    {
      Id: "other-new",
      Created: seconds - 5,
      Labels: { [BUILD_LABEL]: "h2", [WORKER_LABEL]: "w2" },
    },
    {
      Id: "other-old",
      Created: seconds - 700,
      Labels: { [BUILD_LABEL]: "h3", [WORKER_LABEL]: "w2" },
    },
    { Id: "gone", Created: seconds - 700, Labels: { [BUILD_LABEL]: "h4" } },
  ];

  it("removes this worker's containers and any past the job timeout", async () => {
    const { docker, removed, filters } = fakeDocker(containers);
    const result = await removeLeftovers(docker, {
      workerId: "w1",
      olderThanSeconds: 660,
      now: NOW,
    });
    expect(filters).toEqual([{ label: ["asu.build"] }]);
    expect(removed).toEqual(["mine-new", "other-old"]);
    expect(result).toEqual(["mine-new", "other-old"]);
  });

  it("leaves young containers of other workers alone", async () => {
    const { docker, removed } = fakeDocker(containers);
    await removeLeftovers(docker, { olderThanSeconds: 1000, now: NOW });
    expect(removed).toEqual([]);
  });

  it("removes young containers of its own queue whose build runs nowhere", async () => {
    const queued = (id: string, hash: string, queue: string): Listed => ({
      Id: id,
      Created: seconds - 5,
      Labels: { [BUILD_LABEL]: hash, [WORKER_LABEL]: "w9", [QUEUE_LABEL]: queue },
    });
    const { docker, removed } = fakeDocker([
      queued("running", "h5", "q1"),
      queued("orphan", "h6", "q1"),
      queued("other-queue", "h7", "q2"),
      ...containers,
    ]);
    const asked: (readonly string[])[] = [];
    await removeLeftovers(docker, {
      olderThanSeconds: 1000,
      now: NOW,
      queueId: "q1",
      running: async (hashes) => {
        asked.push(hashes);
        return new Set(["h5"]);
      },
    });
    expect(asked).toEqual([["h5", "h6"]]);
    expect(removed).toEqual(["orphan"]);
  });

  it("removes idle warm containers with their worker, and taken ones with their build", async () => {
    const warm = (
      id: string,
      worker: string,
      age: number,
      queue = "q1",
      build?: string,
    ): Listed => ({
      Id: id,
      Created: seconds - age,
      Labels: { [BUILD_LABEL]: WARM_BUILD, [WORKER_LABEL]: worker, [QUEUE_LABEL]: queue },
      ...(build && { Names: [`/asu-build-${build}-0a1b2c`] }),
    });
    const { docker, removed } = fakeDocker([
      warm("online", "w1", 5),
      warm("offline", "w2", 5),
      warm("other-queue", "w3", 5, "q2"),
      // Within its idle time on top of the timeout: a build may have just taken it.
      warm("taken-late", "w1", 1000 + 200),
      warm("expired", "w1", 1000 + 301),
      // Taken by a build, which named it: it lives as long as that build runs.
      warm("taken-running", "w2", 5, "q1", "h5"),
      warm("taken-orphan", "w1", 5, "q1", "h9"),
    ]);
    const asked: (readonly string[])[] = [];
    await removeLeftovers(docker, {
      olderThanSeconds: 1000,
      now: NOW,
      queueId: "q1",
      running: async (hashes) => {
        asked.push(hashes);
        return new Set(["h5"]);
      },
      onlineWorkers: async () => new Set(["w1"]),
    });
    // An idle warm container names no build: its worker's heartbeat speaks for it.
    expect(asked).toEqual([["h5", "h9"]]);
    expect(removed.sort()).toEqual(["expired", "offline", "taken-orphan"]);
  });
});

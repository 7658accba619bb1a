import { expect } from "vitest";
import { rawRequest } from "./raw-request.ts";

/**
 * The old list of finished builds, `GET /api/v1/build-cache/completed` (gone), spelt
 * every way an attacker tried or might: dot segments, escapes, doubled and
 * trailing slashes, case, a parameter, an absolute-form request target. Sent
 * as written (rawRequest), since fetch() would tidy most of them away.
 */
export function completedSpellings(baseUrl: string): string[] {
  const list = "/api/v1/build-cache/completed";
  return [
    list,
    `${list}?after=1:0&limit=10`,
    `${list}/`,
    `${list}//`,
    `${list}?`,
    `${list};x`,
    `${list}%00`,
    `${list}%2F`,
    "/api/v1/build-cache/./completed",
    "/api/v1/./build-cache/completed",
    "/api/v1/build-cache/%2e/completed",
    "/api/v1/build-cache/%63ompleted",
    "/api/v1/build-cache/%63%6f%6d%70%6c%65%74%65%64",
    "/api/v1/build-cache%2Fcompleted",
    "/api/v1/build-cache%2fcompleted",
    "/api%2Fv1%2Fbuild-cache%2Fcompleted",
    "/api/v1/x/../build-cache/completed",
    "/api/v1/build-cache/x/../completed",
    "/api/v1/build-cache/x/%2e%2e/completed",
    "/api/v1/build-cache/x/%2E%2E/completed",
    "/x/../api/v1/build-cache/completed",
    "/api/v1/build-cache/x/..%2Fcompleted",
    `/${list}`,
    `//${list}`,
    "/api//v1/build-cache/completed",
    "/api/v1//build-cache/completed",
    "/api/v1/build-cache//completed",
    "/API/V1/BUILD-CACHE/COMPLETED",
    "/api/v1/build-cache/Completed",
    "/api/v1/Build-Cache/completed",
    `${new URL(baseUrl).origin}${list}`,
  ];
}

/**
 * Every spelling, GET and HEAD, following redirects the way a client would:
 * each ends in a 404 and no answer on the way carries `listedHash`.
 */
export async function expectListNeverServed(baseUrl: string, listedHash: string): Promise<void> {
  const refusedOrNot: string[] = [];
  for (const spelling of completedSpellings(baseUrl)) {
    for (const method of ["GET", "HEAD"]) {
      let path = spelling;
      let answer = await rawRequest(baseUrl, path, { method, timeoutMs: 10_000 });
      let leaked = answer.body.includes(listedHash);
      for (let hops = 0; answer.status >= 300 && answer.status < 400 && hops < 3; hops++) {
        path = String(answer.headers.location);
        answer = await rawRequest(baseUrl, path, { method, timeoutMs: 10_000 });
        leaked ||= answer.body.includes(listedHash);
      }
      refusedOrNot.push(`${method} ${spelling} → ${answer.status}${leaked ? " LISTED" : ""}`);
    }
  }
  // One assertion naming every spelling that was not refused.
  expect(refusedOrNot.filter((line) => !line.endsWith("→ 404"))).toEqual([]);
}

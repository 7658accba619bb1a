import type { FakeUpstream } from "../../test/support/fake-upstream.ts";
import { request } from "./request.ts";

/** A feed index of `count` packages in the opkg shape, with the request's names among them. */
function opkgFeed(prefix: string, count: number, names: readonly string[] = []): string {
  const stanza = (name: string, i: number) =>
    `Package: ${name}\nVersion: 1.${i}.0-r1\nDepends: libc, libubox20240329\nSection: net\nArchitecture: mips_24kc\nInstalled-Size: ${1000 + i}\nFilename: ${name}_1.${i}.0-r1_mips_24kc.ipk\nSize: ${900 + i}\nSHA256sum: ${"0".repeat(64)}\nDescription:  Package ${name} for the benchmark\n`;
  const all = [...names, ...Array.from({ length: count }, (_, i) => `${prefix}-${i}`)];
  return all.map(stanza).join("\n");
}

/**
 * Publishes 24.10.0 ath79/generic package indexes of real size, after
 * 24.10.0 mips_24kc: thousands in packages, hundreds elsewhere.
 */
export function publishBenchIndexes(upstream: FakeUpstream): void {
  const base = "releases/24.10.0";
  upstream.addFile(
    `${base}/packages/mips_24kc/packages/Packages`,
    opkgFeed(
      "pkg",
      8000,
      request.packages.filter((name) => name !== "luci"),
    ),
  );
  upstream.addFile(
    `${base}/packages/mips_24kc/luci/Packages`,
    opkgFeed("luci-app", 1500, ["luci"]),
  );
  upstream.addFile(`${base}/packages/mips_24kc/base/Packages`, opkgFeed("lib", 1200));
  upstream.addFile(`${base}/packages/mips_24kc/telephony/Packages`, opkgFeed("tel", 300));
  upstream.addFile(`${base}/targets/ath79/generic/packages/Packages`, opkgFeed("target", 200));
  upstream.addFile(
    `${base}/targets/ath79/generic/kmods/6.6.73-1-2974fbe1fa59be88f13eb8abeac8c10b/Packages`,
    opkgFeed("kmod-bench", 800),
  );
}

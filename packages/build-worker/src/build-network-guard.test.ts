import { describe, expect, it } from "vitest";
import {
  guardedNetwork,
  guardRemoval,
  guardRuleset,
  guardTableName,
  hostPortsOf,
} from "./build-network-guard.ts";

const NETWORK = {
  name: "asu-build",
  interfaceName: "podman1",
  gateways: ["10.89.0.1", "fd00:1::1"],
  dnsEnabled: true,
};

describe("guardRuleset", () => {
  it("refuses everything from the bridge to the host but DNS at the gateways and allowed ports", () => {
    const script = guardRuleset(NETWORK, { allowTcpPorts: [3142, 3142] });
    const rules = script.split("\n").map((line) => line.trim());
    expect(rules).toContain(
      'iifname "podman1" ip daddr 10.89.0.1 meta l4proto { tcp, udp } th dport 53 accept',
    );
    expect(rules).toContain(
      'iifname "podman1" ip6 daddr fd00:1::1 meta l4proto { tcp, udp } th dport 53 accept',
    );
    // An allowed port is open at every address of the host, once however often listed.
    expect(rules.filter((rule) => rule === 'iifname "podman1" tcp dport 3142 accept')).toHaveLength(
      1,
    );
    // The refusals come after every accept, and port forwards are refused too.
    const lastAccept = rules.findLastIndex((rule) => rule.endsWith(" accept"));
    expect(rules.indexOf('iifname "podman1" counter reject')).toBeGreaterThan(lastAccept);
    expect(rules).toContain('iifname "podman1" ct status dnat counter reject');
    // Replaces an earlier guard of the same network.
    expect(script.startsWith(`table inet ${guardTableName("asu-build")} {}\ndelete table`)).toBe(
      true,
    );
  });

  it("leaves DNS closed when the network has none", () => {
    expect(guardRuleset({ ...NETWORK, dnsEnabled: false })).not.toContain("dport 53");
  });

  it("refuses a port that is not one", () => {
    expect(() => guardRuleset(NETWORK, { allowTcpPorts: [0] })).toThrow("not a TCP port: 0");
    expect(() => guardRuleset(NETWORK, { allowTcpPorts: [70_000] })).toThrow();
  });

  it("names its table safely for any network name", () => {
    expect(guardTableName("asu-build.2")).toBe("asu_build_guard_asu_build_2");
    expect(guardRemoval("asu-build")).toBe(
      "table inet asu_build_guard_asu_build {}\ndelete table inet asu_build_guard_asu_build\n",
    );
  });
});

describe("guardedNetwork", () => {
  it("reads podman network inspect", () => {
    expect(
      guardedNetwork([
        {
          name: "asu-build",
          driver: "bridge",
          network_interface: "podman1",
          subnets: [{ subnet: "10.89.0.0/24", gateway: "10.89.0.1" }],
          dns_enabled: true,
        },
      ]),
    ).toEqual({ ...NETWORK, gateways: ["10.89.0.1"] });
  });

  it("refuses a network that is no bridge", () => {
    expect(() => guardedNetwork([{ name: "mac", driver: "macvlan" }])).toThrow(
      "the build network must be a Podman bridge network",
    );
  });
});

describe("hostPortsOf", () => {
  const addresses = ["10.89.0.1", "192.0.2.7", "fd00:1::1"];

  it("finds the ports of URLs that name the host, by its container name or an address", () => {
    expect(
      hostPortsOf(
        [
          "http://host.containers.internal:8080/",
          "https://192.0.2.7/openwrt",
          "http://[fd00:1::1]:3142",
          "http://HOST.DOCKER.INTERNAL",
        ],
        addresses,
      ),
    ).toEqual([8080, 443, 3142, 80]);
  });

  it("leaves out the internet, loopback and what is no http URL", () => {
    expect(
      hostPortsOf(
        [
          "https://downloads.openwrt.org",
          "http://127.0.0.1:8081",
          "http://localhost:8081",
          undefined,
          "",
          "not a url",
          "ftp://192.0.2.7:21",
        ],
        addresses,
      ),
    ).toEqual([]);
  });
});

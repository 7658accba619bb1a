import { describe, expect, it } from "vitest";
import { clientAddress, trustedProxies } from "./client-address.ts";

describe("clientAddress", () => {
  const trusted = trustedProxies(["10.0.0.0/8", "192.0.2.1", "2001:db8::/32"]);

  it("is the peer when no proxy is trusted, whatever X-Forwarded-For says", () => {
    expect(clientAddress("203.0.113.9", "198.51.100.1", trustedProxies([]))).toBe("203.0.113.9");
    expect(clientAddress("203.0.113.9", "198.51.100.1", trusted)).toBe("203.0.113.9");
  });

  it("is the first untrusted hop behind trusted proxies", () => {
    expect(clientAddress("10.1.1.1", "198.51.100.7", trusted)).toBe("198.51.100.7");
    expect(clientAddress("10.1.1.1", "198.51.100.7, 192.0.2.1", trusted)).toBe("198.51.100.7");
    expect(clientAddress("::ffff:10.1.1.1", "2001:db9::5, 2001:db8::1", trusted)).toBe(
      "2001:db9::5",
    );
  });

  it("ignores hops a client wrote itself, left of the first untrusted one", () => {
    expect(clientAddress("10.1.1.1", "1.2.3.4, 198.51.100.7", trusted)).toBe("198.51.100.7");
  });

  it("reads addresses with ports and brackets, and stops at garbage", () => {
    expect(clientAddress("10.1.1.1", "[2001:db9::5]:443", trusted)).toBe("2001:db9::5");
    expect(clientAddress("10.1.1.1", "198.51.100.7:5555", trusted)).toBe("198.51.100.7");
    expect(clientAddress("10.1.1.1", "unknown", trusted)).toBe("10.1.1.1");
    expect(clientAddress("10.1.1.1", "192.0.2.1", trusted)).toBe("192.0.2.1");
  });

  it("is the peer when no header came, and unknown without a peer", () => {
    expect(clientAddress("10.1.1.1", undefined, trusted)).toBe("10.1.1.1");
    expect(clientAddress(undefined, "198.51.100.7", trusted)).toBeUndefined();
  });

  it("refuses settings that are no address", () => {
    expect(() => trustedProxies(["proxy.example"])).toThrow(/TRUSTED_PROXIES/);
    expect(() => trustedProxies(["10.0.0.0/33"])).toThrow(/prefix/);
  });
});

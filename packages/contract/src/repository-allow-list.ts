const REPOSITORY_SCHEMES = new Set(["http:", "https:"]);

// Characters no repository URL needs and that URL parsers disagree about:
// white space (WHATWG silently drops tabs and newlines) and the backslash
// (WHATWG reads it as "/", other fetchers as part of the authority).
const AMBIGUOUS_CHARACTERS = /[\s\\]/;
const SCHEME_AND_AUTHORITY = /^([a-z][a-z\d+.-]*):\/\/([^/?#]*)/i;
// Encoded separators survive WHATWG normalisation but a server may decode
// them into a path the allow list never saw.
const ENCODED_SEPARATOR = /%2f|%5c/i;
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;
const DEFAULT_PORTS: Record<string, string> = { "http:": "80", "https:": "443" };

interface Location {
  protocol: string;
  hostname: string;
  port: string;
  pathname: string;
}

// "example.org." and "example.org" are the same DNS name.
function withoutRootDot(hostname: string): string {
  return hostname.endsWith(".") ? hostname.slice(0, -1) : hostname;
}

function hasControlCharacter(text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function parseUrl(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

/**
 * Reads a requested repository URL, refusing anything another parser could
 * read differently: userinfo, a host that only means the same after decoding
 * (`%61llowed…`, unicode, numeric IPv4 forms), dot segments and encoded
 * separators in the path. What is accepted is what the ImageBuilder fetches.
 */
function parseRequestedUrl(text: string): Location | null {
  if (AMBIGUOUS_CHARACTERS.test(text) || hasControlCharacter(text)) return null;
  const head = SCHEME_AND_AUTHORITY.exec(text);
  const authority = head?.[2]?.toLowerCase();
  if (authority === undefined || authority === "" || authority.includes("@")) return null;
  const url = parseUrl(text);
  if (url === null || !REPOSITORY_SCHEMES.has(url.protocol)) return null;
  const explicitDefaultPort = `${url.hostname}:${DEFAULT_PORTS[url.protocol]}`;
  if (authority !== url.host && !(url.port === "" && authority === explicitDefaultPort)) {
    return null;
  }
  const rawPath = text.slice((head?.[0] ?? "").length).split(/[?#]/, 1)[0] ?? "";
  if (ENCODED_SEPARATOR.test(rawPath)) return null;
  if (rawPath.split("/").some((segment) => DOT_SEGMENT.test(segment))) return null;
  return url;
}

/** Allow-list entries come from the operator and are read as plain URLs. */
function parseAllowListEntry(text: string): Location | null {
  const url = parseUrl(text.trim());
  if (url === null || !REPOSITORY_SCHEMES.has(url.protocol)) return null;
  return url;
}

function isUnder(requested: Location, allowed: Location): boolean {
  if (requested.protocol !== allowed.protocol || requested.port !== allowed.port) return false;
  if (withoutRootDot(requested.hostname) !== withoutRootDot(allowed.hostname)) return false;
  const prefix = allowed.pathname.replace(/\/+$/, "");
  return requested.pathname === prefix || requested.pathname.startsWith(`${prefix}/`);
}

/**
 * Whether a requested repository URL may be used: same scheme, host and port
 * as an allow-list entry and a path at or below the entry's path, compared on
 * segment boundaries (`/openwrt` admits `/openwrt/x`, not `/openwrt-evil`).
 * An empty allow list admits nothing, as on the Python server.
 */
export function isRepositoryAllowed(url: string, allowList: readonly string[]): boolean {
  const requested = parseRequestedUrl(url);
  if (requested === null) return false;
  return allowList.some((entry) => {
    const allowed = parseAllowListEntry(entry);
    return allowed !== null && isUnder(requested, allowed);
  });
}

/** The 400 detail for a refused repository. */
export function repositoryNotAllowedMessage(url: string): string {
  return `Repository not allowed: ${url}`;
}

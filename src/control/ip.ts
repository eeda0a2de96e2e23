/**
 * ip: the small IPv4/IPv6 address and network helpers the control plane needs.
 *
 * IPv4 addresses are host-order unsigned 32-bit numbers, IPv6 addresses are 128-bit bigints.
 * Parsing follows Go's `net.ParseIP` / `net.ParseCIDR` (what flannel uses): dotted quads without
 * leading zeros, and IPv6 printed in Go's canonical form (RFC 5952: lower case, longest run of two
 * or more zero groups collapsed to `::`), so keys and subnet.env values match flannel's byte for byte.
 * Kept separate from `src/route/addr.ts` (hot-path helpers) because these run only on control paths.
 */

/** Ip4Net is an IPv4 network: `ip` is the host-order u32 network address, `prefixLen` 0..32. */
export interface Ip4Net {
  readonly ip: number;
  readonly prefixLen: number;
}

/** Ip6Net is an IPv6 network: `ip` is the 128-bit network address, `prefixLen` 0..128. */
export interface Ip6Net {
  readonly ip: bigint;
  readonly prefixLen: number;
}

const V4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const MASK128 = (1n << 128n) - 1n;

/** parseIPv4 returns the host-order u32 of a dotted quad, or null (Go rejects leading zeros too). */
export function parseIPv4(s: string): number | null {
  const m = V4_RE.exec(s);
  if (!m) return null;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    if (part.length > 1 && part[0] === '0') return null;
    const n = Number(part);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v >>> 0;
}

/** formatIPv4 prints a host-order u32 as a dotted quad. */
export function formatIPv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** parseIPv6 returns the 128-bit value of an IPv6 address (with optional embedded IPv4 tail), or null. */
export function parseIPv6(s: string): bigint | null {
  if (s.length < 2 || s.length > 45 || !/^[0-9a-fA-F:.]+$/.test(s)) return null;
  let head = s;
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.') >= 0) {
    const v4 = parseIPv4(s.slice(lastColon + 1));
    if (v4 === null) return null;
    tail = [v4 >>> 16, v4 & 0xffff];
    head = s.slice(0, lastColon + 1);
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const dbl = head.indexOf('::');
  if (dbl >= 0 && head.indexOf('::', dbl + 1) >= 0) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl >= 0) {
    const left = parseGroups(head.slice(0, dbl));
    const right = parseGroups(head.slice(dbl + 2));
    if (!left || !right) return null;
    const fill = 8 - left.length - right.length - tail.length;
    if (fill < 1) return null;
    groups = [...left, ...new Array<number>(fill).fill(0), ...right, ...tail];
  } else {
    const all = parseGroups(head);
    if (!all) return null;
    groups = [...all, ...tail];
    if (groups.length !== 8) return null;
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  return v;
}

/** formatIPv6 prints a 128-bit value in Go's canonical `net.IP.String()` form. */
export function formatIPv6(v: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** ip4Mask returns the u32 netmask for a prefix length. */
export function ip4Mask(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/** ip6Mask returns the 128-bit netmask for a prefix length. */
export function ip6Mask(prefixLen: number): bigint {
  return prefixLen === 0 ? 0n : (MASK128 << BigInt(128 - prefixLen)) & MASK128;
}

/** parseIp4Cidr parses `A.B.C.D/N` like Go's ParseCIDR: the result is masked (host bits cleared). */
export function parseIp4Cidr(s: string): Ip4Net | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const ip = parseIPv4(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (ip === null || !/^\d{1,2}$/.test(lenText)) return null;
  const prefixLen = Number(lenText);
  if (prefixLen > 32) return null;
  return { ip: (ip & ip4Mask(prefixLen)) >>> 0, prefixLen };
}

/** parseIp6Cidr parses `addr/N` like Go's ParseCIDR: the result is masked. */
export function parseIp6Cidr(s: string): Ip6Net | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const ip = parseIPv6(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (ip === null || !/^\d{1,3}$/.test(lenText)) return null;
  const prefixLen = Number(lenText);
  if (prefixLen > 128) return null;
  return { ip: ip & ip6Mask(prefixLen), prefixLen };
}

/** ip4NetToString prints `10.244.1.0/24`. */
export function ip4NetToString(n: Ip4Net): string {
  return `${formatIPv4(n.ip)}/${n.prefixLen}`;
}

/** ip6NetToString prints `fd00:1::/64`. */
export function ip6NetToString(n: Ip6Net): string {
  return `${formatIPv6(n.ip)}/${n.prefixLen}`;
}

/** ip4NetContains is true when `inner` lies entirely within `outer`. */
export function ip4NetContains(outer: Ip4Net, inner: Ip4Net): boolean {
  return inner.prefixLen >= outer.prefixLen && (inner.ip & ip4Mask(outer.prefixLen)) >>> 0 === outer.ip;
}

/** ip4NetOverlaps is true when the two networks share any address. */
export function ip4NetOverlaps(a: Ip4Net, b: Ip4Net): boolean {
  const len = Math.min(a.prefixLen, b.prefixLen);
  return (a.ip & ip4Mask(len)) >>> 0 === (b.ip & ip4Mask(len)) >>> 0;
}

/** ip6NetContains is true when `inner` lies entirely within `outer`. */
export function ip6NetContains(outer: Ip6Net, inner: Ip6Net): boolean {
  return inner.prefixLen >= outer.prefixLen && (inner.ip & ip6Mask(outer.prefixLen)) === outer.ip;
}

/** ip6NetOverlaps is true when the two networks share any address. */
export function ip6NetOverlaps(a: Ip6Net, b: Ip6Net): boolean {
  const m = ip6Mask(Math.min(a.prefixLen, b.prefixLen));
  return (a.ip & m) === (b.ip & m);
}

/** ip4NetEqual compares two networks by value. */
export function ip4NetEqual(a: Ip4Net | null, b: Ip4Net | null): boolean {
  if (a === null || b === null) return a === b;
  return a.ip === b.ip && a.prefixLen === b.prefixLen;
}

/** ip6NetEqual compares two networks by value. */
export function ip6NetEqual(a: Ip6Net | null, b: Ip6Net | null): boolean {
  if (a === null || b === null) return a === b;
  return a.ip === b.ip && a.prefixLen === b.prefixLen;
}

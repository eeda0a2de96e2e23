/**
 * addr: IP and MAC addresses for the control paths (config, leases, flags, CLI, tests): IPv4
 * dotted quads <-> host-order u32, IPv6 text <-> 16 bytes or a 128-bit bigint, CIDR parsing, MAC
 * strings <-> 6-byte Buffers, and the network values (mask, overlap, equality) leases and the
 * network config compare.
 *
 * Design notes: parsing follows Go's `net.ParseIP` / `net.ParseCIDR` (what flannel uses): dotted
 * quads without leading zeros, and IPv6 printed in Go's canonical form (RFC 5952: lower case,
 * longest run of two or more zero groups collapsed to `::`), so keys and subnet.env values match
 * flannel's byte for byte. The throwing parsers name the offending field in a `ConfigError`; the
 * `try`/`parse` forms return -1 or null. The packet path never parses text; it reads addresses
 * straight out of packet buffers as numbers.
 */

import { ConfigError } from '../errors';

/** IPV4_RE matches a dotted quad with decimal octets (no leading '+', no empty parts). */
const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** MAC_RE matches six hex octets separated by ':' or '-'. */
const MAC_RE =
  /^([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})$/;

/** IPV6_BYTES is the length of an IPv6 address. */
export const IPV6_BYTES = 16;

/** tryIpv4ToU32 parses a dotted quad to a host-order u32, or returns -1 when it is not one. */
export function tryIpv4ToU32(s: string): number {
  const m = IPV4_RE.exec(s);
  if (m === null) return -1;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    // Leading zeros are ambiguous (octal in inet_aton); Go's net.ParseIP rejects them too.
    if (part.length > 1 && part[0] === '0') return -1;
    const o = Number(part);
    if (o > 255) return -1;
    v = v * 256 + o;
  }
  return v;
}

/**
 * ipv4ToU32 parses a dotted quad (`192.0.2.1`) to an unsigned 32-bit integer in host order
 * (`0xc0000201`). Throws ConfigError naming `field` and the input when it is not an IPv4 address.
 */
export function ipv4ToU32(s: string, field = 'address'): number {
  const v = tryIpv4ToU32(s);
  if (v < 0) throw new ConfigError(field, 'must be an IPv4 address (a.b.c.d)', JSON.stringify(s));
  return v;
}

/** u32ToIpv4 formats a host-order u32 (or its int32 reinterpretation) as a dotted quad. */
export function u32ToIpv4(v: number): string {
  return `${(v >>> 24) & 0xff}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/** ipv4Mask is the host-order netmask of an IPv4 prefix length (0..32) as a u32. */
export function ipv4Mask(len: number): number {
  // `<< 32` is `<< 0` in JS, so /0 needs its own case.
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/**
 * tryParseIpv6 parses IPv6 text (RFC 4291 §2.2, including `::` and an embedded dotted quad) into
 * `out[off..off+16)`. Returns false, leaving `out` partly written, when `s` is not an IPv6 address.
 * Zone ids (`%eth0`) are rejected: overlay subnets have none.
 */
export function tryParseIpv6(s: string, out: Uint8Array, off = 0): boolean {
  if (s.length < 2 || s.length > 45) return false;
  const dbl = s.indexOf('::');
  if (dbl !== -1 && s.indexOf('::', dbl + 1) !== -1) return false;
  const head = dbl === -1 ? s : s.slice(0, dbl);
  const tail = dbl === -1 ? '' : s.slice(dbl + 2);
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = tail === '' ? [] : tail.split(':');
  const groups: number[] = [];
  const all = [...headParts, ...tailParts];
  const lastIsV4 = all.length > 0 && all[all.length - 1]!.includes('.');
  const parseGroups = (parts: string[], isTail: boolean): number[] | null => {
    const r: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      const isLast = isTail ? i === parts.length - 1 : dbl === -1 && i === parts.length - 1;
      if (isLast && lastIsV4) {
        const v4 = tryIpv4ToU32(p);
        if (v4 < 0) return null;
        r.push(v4 >>> 16, v4 & 0xffff);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
      r.push(parseInt(p, 16));
    }
    return r;
  };
  const h = parseGroups(headParts, false);
  const t = parseGroups(tailParts, true);
  if (h === null || t === null) return false;
  if (dbl === -1) {
    if (h.length !== 8) return false;
    groups.push(...h);
  } else {
    const fill = 8 - h.length - t.length;
    if (fill < 1) return false;
    groups.push(...h, ...new Array<number>(fill).fill(0), ...t);
  }
  for (let i = 0; i < 8; i++) {
    out[off + 2 * i] = groups[i]! >>> 8;
    out[off + 2 * i + 1] = groups[i]! & 0xff;
  }
  return true;
}

/** ipv6ToBuffer parses IPv6 text into a new 16-byte Buffer; throws ConfigError naming `field`. */
export function ipv6ToBuffer(s: string, field = 'address'): Buffer {
  const b = Buffer.alloc(IPV6_BYTES);
  if (!tryParseIpv6(s, b)) throw new ConfigError(field, 'must be an IPv6 address', JSON.stringify(s));
  return b;
}

/**
 * ipv6ToString formats 16 bytes at `buf[off..off+16)` in RFC 5952 canonical form (lower case,
 * longest run of two or more zero groups compressed to `::`, first such run on a tie).
 */
export function ipv6ToString(buf: Uint8Array, off = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((buf[off + 2 * i]! << 8) | buf[off + 2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (bestStart === -1) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** readIpv6Words reads 16 bytes at `buf[off..]` as four big-endian u32 words (control path). */
export function readIpv6Words(buf: Uint8Array, off = 0): [number, number, number, number] {
  const w = (o: number): number =>
    ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
  return [w(off), w(off + 4), w(off + 8), w(off + 12)];
}

/** Cidr is a parsed, canonical (host bits cleared) IPv4 or IPv6 prefix. */
export type Cidr = Ipv4Cidr | Ipv6Cidr;

/** Ipv4Cidr is an IPv4 prefix; `network` is the host-order u32 with host bits cleared. */
export interface Ipv4Cidr {
  readonly family: 4;
  /** Network address as a host-order u32, host bits cleared. */
  readonly network: number;
  /** Network address as 4 bytes, network order. */
  readonly bytes: Buffer;
  /** Prefix length, 0..32. */
  readonly prefixLen: number;
  /** True when the input had bits set below the prefix (they were cleared, as Go's ParseCIDR does). */
  readonly hostBitsSet: boolean;
  /** Canonical text, e.g. `10.244.1.0/24`. */
  readonly text: string;
}

/** Ipv6Cidr is an IPv6 prefix; `bytes` is the 16-byte network address with host bits cleared. */
export interface Ipv6Cidr {
  readonly family: 6;
  /** Network address as 16 bytes, network order, host bits cleared. */
  readonly bytes: Buffer;
  /** The same address as four big-endian u32 words (host-order numbers). */
  readonly words: readonly [number, number, number, number];
  /** Prefix length, 0..128. */
  readonly prefixLen: number;
  /** True when the input had bits set below the prefix (they were cleared). */
  readonly hostBitsSet: boolean;
  /** Canonical text (RFC 5952), e.g. `fd00:1::/64`. */
  readonly text: string;
}

/**
 * parseCidr parses `a.b.c.d/len` or `ipv6/len` into a canonical prefix. Bits below the prefix are
 * cleared (like Go's net.ParseCIDR) and reported in `hostBitsSet`. Throws ConfigError naming
 * `field` and the input on anything else (missing or out-of-range length, bad address).
 */
export function parseCidr(s: string, field = 'subnet'): Cidr {
  const bad = (rule: string): ConfigError => new ConfigError(field, rule, JSON.stringify(s));
  if (typeof s !== 'string') throw bad('must be a CIDR string');
  const slash = s.indexOf('/');
  if (slash === -1) throw bad('must be a CIDR prefix (address/length)');
  const addr = s.slice(0, slash);
  const lenText = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText) || (lenText.length > 1 && lenText[0] === '0')) {
    throw bad('prefix length must be a decimal integer');
  }
  const prefixLen = Number(lenText);
  if (addr.includes(':')) {
    if (prefixLen > 128) throw bad('IPv6 prefix length must be in 0..128');
    const bytes = Buffer.alloc(IPV6_BYTES);
    if (!tryParseIpv6(addr, bytes)) throw bad('must be a CIDR prefix with a valid IPv6 address');
    const hostBitsSet = maskBytesInPlace(bytes, prefixLen);
    return {
      family: 6,
      bytes,
      words: readIpv6Words(bytes),
      prefixLen,
      hostBitsSet,
      text: `${ipv6ToString(bytes)}/${prefixLen}`,
    };
  }
  const v = tryIpv4ToU32(addr);
  if (v < 0) throw bad('must be a CIDR prefix with a valid IPv4 address');
  if (prefixLen > 32) throw bad('IPv4 prefix length must be in 0..32');
  const network = (v & ipv4Mask(prefixLen)) >>> 0;
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(network, 0);
  return {
    family: 4,
    network,
    bytes,
    prefixLen,
    hostBitsSet: network !== v,
    text: `${u32ToIpv4(network)}/${prefixLen}`,
  };
}

/** maskBytesInPlace clears every bit after the first `prefixLen`; returns true if any was set. */
function maskBytesInPlace(b: Uint8Array, prefixLen: number): boolean {
  let changed = false;
  for (let i = 0; i < b.length; i++) {
    const keep = Math.max(0, Math.min(8, prefixLen - 8 * i));
    const m = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    if ((b[i]! & ~m) !== 0) changed = true;
    b[i] = b[i]! & m;
  }
  return changed;
}

/** macToBuffer parses `aa:bb:cc:dd:ee:ff` (or `-` separated) into a new 6-byte Buffer; throws ConfigError. */
export function macToBuffer(s: string, field = 'mac'): Buffer {
  const m = typeof s === 'string' ? MAC_RE.exec(s) : null;
  if (m === null)
    throw new ConfigError(field, 'must be a MAC address (aa:bb:cc:dd:ee:ff)', JSON.stringify(s));
  const b = Buffer.alloc(6);
  for (let i = 0; i < 6; i++) b[i] = parseInt(m[i + 1]!, 16);
  return b;
}

/** bufferToMac formats 6 bytes at `buf[off..off+6)` as lower-case `aa:bb:cc:dd:ee:ff`. */
export function bufferToMac(buf: Uint8Array, off = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(buf[off + i]!.toString(16).padStart(2, '0'));
  return parts.join(':');
}

// ---------------------------------------------------------------------------------------------
// Network values as the control plane compares them: IPv4 as a host-order u32, IPv6 as a bigint.

/** Ipv4Net is an IPv4 network: `ip` is the host-order u32 network address, `prefixLen` 0..32. */
export interface Ipv4Net {
  readonly ip: number;
  readonly prefixLen: number;
}

/** Ipv6Net is an IPv6 network: `ip` is the 128-bit network address, `prefixLen` 0..128. */
export interface Ipv6Net {
  readonly ip: bigint;
  readonly prefixLen: number;
}

const MASK128 = (1n << 128n) - 1n;

/** parseIpv4 returns the host-order u32 of a dotted quad, or null (Go rejects leading zeros too). */
export function parseIpv4(s: string): number | null {
  const v = tryIpv4ToU32(s);
  return v < 0 ? null : v;
}

/** parseIpv6 returns the 128-bit value of an IPv6 address (with optional embedded IPv4 tail), or null. */
export function parseIpv6(s: string): bigint | null {
  const b = new Uint8Array(IPV6_BYTES);
  if (!tryParseIpv6(s, b)) return null;
  let v = 0n;
  for (let i = 0; i < IPV6_BYTES; i++) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

/** formatIpv6 prints a 128-bit value in Go's canonical `net.IP.String()` form. */
export function formatIpv6(v: bigint): string {
  const b = new Uint8Array(IPV6_BYTES);
  for (let i = IPV6_BYTES - 1; i >= 0; i--, v >>= 8n) b[i] = Number(v & 0xffn);
  return ipv6ToString(b);
}

/** ipv6Mask returns the 128-bit netmask for a prefix length. */
export function ipv6Mask(prefixLen: number): bigint {
  return prefixLen === 0 ? 0n : (MASK128 << BigInt(128 - prefixLen)) & MASK128;
}

/**
 * splitPrefix splits `addr/N` where N matches `lenRe` and is <= `maxLen` (Go's ParseCIDR rules
 * per family); null otherwise.
 */
function splitPrefix(s: string, lenRe: RegExp, maxLen: number): { addr: string; prefixLen: number } | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const lenText = s.slice(slash + 1);
  if (!lenRe.test(lenText)) return null;
  const prefixLen = Number(lenText);
  return prefixLen > maxLen ? null : { addr: s.slice(0, slash), prefixLen };
}

/** parseIpv4Cidr parses `A.B.C.D/N` like Go's ParseCIDR: the result is masked (host bits cleared). */
export function parseIpv4Cidr(s: string): Ipv4Net | null {
  const p = splitPrefix(s, /^\d{1,2}$/, 32);
  const ip = p && parseIpv4(p.addr);
  if (p === null || ip === null) return null;
  return { ip: (ip & ipv4Mask(p.prefixLen)) >>> 0, prefixLen: p.prefixLen };
}

/** parseIpv6Cidr parses `addr/N` like Go's ParseCIDR: the result is masked. */
export function parseIpv6Cidr(s: string): Ipv6Net | null {
  const p = splitPrefix(s, /^\d{1,3}$/, 128);
  const ip = p && parseIpv6(p.addr);
  if (p === null || ip === null) return null;
  return { ip: ip & ipv6Mask(p.prefixLen), prefixLen: p.prefixLen };
}

/** ipv4NetToString prints `10.244.1.0/24`. */
export function ipv4NetToString(n: Ipv4Net): string {
  return `${u32ToIpv4(n.ip)}/${n.prefixLen}`;
}

/** ipv6NetToString prints `fd00:1::/64`. */
export function ipv6NetToString(n: Ipv6Net): string {
  return `${formatIpv6(n.ip)}/${n.prefixLen}`;
}

/** ipv4NetOverlaps is true when the two networks share any address. */
export function ipv4NetOverlaps(a: Ipv4Net, b: Ipv4Net): boolean {
  const len = Math.min(a.prefixLen, b.prefixLen);
  return (a.ip & ipv4Mask(len)) >>> 0 === (b.ip & ipv4Mask(len)) >>> 0;
}

/** ipv6NetOverlaps is true when the two networks share any address. */
export function ipv6NetOverlaps(a: Ipv6Net, b: Ipv6Net): boolean {
  const m = ipv6Mask(Math.min(a.prefixLen, b.prefixLen));
  return (a.ip & m) === (b.ip & m);
}

/** ipv4NetEqual compares two networks by value. */
export function ipv4NetEqual(a: Ipv4Net | null, b: Ipv4Net | null): boolean {
  if (a === null || b === null) return a === b;
  return a.ip === b.ip && a.prefixLen === b.prefixLen;
}

/** ipv6NetEqual compares two networks by value. */
export function ipv6NetEqual(a: Ipv6Net | null, b: Ipv6Net | null): boolean {
  if (a === null || b === null) return a === b;
  return a.ip === b.ip && a.prefixLen === b.prefixLen;
}

/**
 * ip: the small IPv4/IPv6 address and network helpers the control plane needs.
 *
 * IPv4 addresses are host-order unsigned 32-bit numbers, IPv6 addresses are 128-bit bigints.
 * Parsing follows Go's `net.ParseIP` / `net.ParseCIDR` (what flannel uses): dotted quads without
 * leading zeros, and IPv6 printed in Go's canonical form (RFC 5952: lower case, longest run of two
 * or more zero groups collapsed to `::`), so keys and subnet.env values match flannel's byte for byte.
 * The parsing and printing itself is `src/route/addr.ts`'s; this file adds the bigint/number network
 * values (mask, overlap, equality) that leases and the network config compare.
 */

import { IPV6_BYTES, ipv6ToString, prefixMaskV4, tryIpv4ToU32, tryParseIpv6, u32ToIpv4 } from '../route/addr';

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

const MASK128 = (1n << 128n) - 1n;

/** parseIPv4 returns the host-order u32 of a dotted quad, or null (Go rejects leading zeros too). */
export function parseIPv4(s: string): number | null {
  const v = tryIpv4ToU32(s);
  return v < 0 ? null : v;
}

/** formatIPv4 prints a host-order u32 as a dotted quad. */
export const formatIPv4: (v: number) => string = u32ToIpv4;

/** parseIPv6 returns the 128-bit value of an IPv6 address (with optional embedded IPv4 tail), or null. */
export function parseIPv6(s: string): bigint | null {
  const b = new Uint8Array(IPV6_BYTES);
  if (!tryParseIpv6(s, b)) return null;
  let v = 0n;
  for (let i = 0; i < IPV6_BYTES; i++) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

/** formatIPv6 prints a 128-bit value in Go's canonical `net.IP.String()` form. */
export function formatIPv6(v: bigint): string {
  const b = new Uint8Array(IPV6_BYTES);
  for (let i = IPV6_BYTES - 1; i >= 0; i--, v >>= 8n) b[i] = Number(v & 0xffn);
  return ipv6ToString(b);
}

/** ip4Mask returns the u32 netmask for a prefix length. */
export const ip4Mask: (prefixLen: number) => number = prefixMaskV4;

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

/** ip4NetOverlaps is true when the two networks share any address. */
export function ip4NetOverlaps(a: Ip4Net, b: Ip4Net): boolean {
  const len = Math.min(a.prefixLen, b.prefixLen);
  return (a.ip & ip4Mask(len)) >>> 0 === (b.ip & ip4Mask(len)) >>> 0;
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

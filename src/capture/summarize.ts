/**
 * summarize: one captured underlay frame (bytes) → one readable line, outer and inner layers together.
 *
 * Formats decoded here (offsets as in the RFCs): Ethernet II + 802.1Q (IEEE 802.3), Linux cooked
 * capture SLL/SLL2 (libpcap `any` device), IPv4 (RFC 791), IPv6 + extension headers (RFC 8200),
 * UDP (RFC 768), TCP (RFC 9293), ICMP (RFC 792), ICMPv6 (RFC 4443), ARP (RFC 826),
 * VXLAN (RFC 7348 §5: flags 0x08, 24-bit VNI, inner Ethernet without FCS) and flannel-UDP
 * (the UDP payload is the raw inner IP packet; flannel.md §6).
 *
 * Design notes: this is a control-path tool (one line per captured frame), so it decodes with plain
 * bounds-checked reads and allocates strings freely. It is a pure function of its input: every
 * length field is checked against the bytes actually present, and any problem becomes a
 * `[malformed: ...]` tag in the line instead of an exception, because a capture must survive
 * whatever arrives on the wire.
 */

import { DEFAULT_FLANNEL_UDP_PORT, DEFAULT_VXLAN_PORT } from '../encap/constants';
import { bufferToMac, ipv6ToString } from '../route/addr';
import {
  ETH_HEADER_SIZE,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_VLAN,
} from '../wire/ethernet';
import {
  IP_PROTO_ICMP,
  IP_PROTO_ICMPV6,
  IP_PROTO_TCP,
  IP_PROTO_UDP,
  IPV4_MIN_HEADER_SIZE,
} from '../wire/ipv4';
import { IPV6_HEADER_SIZE } from '../wire/ipv6';
import { UDP_HEADER_SIZE } from '../wire/udp';
import { VXLAN_FLAG_I, VXLAN_HEADER_SIZE, VXLAN_IANA_PORT } from '../wire/vxlan';

/** LinkType is the capture's link-layer header type (pcap LINKTYPE_* numbers). */
export const LinkType = {
  /** LINKTYPE_NULL: 4-byte host-order address family (BSD loopback). */
  null: 0,
  /** LINKTYPE_ETHERNET: Ethernet II. */
  ethernet: 1,
  /** LINKTYPE_RAW: a bare IPv4 or IPv6 packet. */
  raw: 101,
  /** LINKTYPE_LINUX_SLL: Linux cooked capture v1 (the `any` device). */
  sll: 113,
  /** LINKTYPE_LINUX_SLL2: Linux cooked capture v2. */
  sll2: 276,
} as const;

/** OverlayKind says how a UDP port is decoded: VXLAN, flannel-UDP, or sniffed per packet. */
export type OverlayKind = 'vxlan' | 'udp' | 'auto';

/** FrameKind classifies a summarized frame (the capture summary counts frames by kind). */
export type FrameKind = 'vxlan' | 'flannel-udp' | 'not-overlay' | 'fragment' | 'malformed';

/** FRAME_KINDS lists every FrameKind in display order. */
export const FRAME_KINDS: readonly FrameKind[] = [
  'vxlan',
  'flannel-udp',
  'fragment',
  'not-overlay',
  'malformed',
];

/** SummarizeOptions tells the decoder which UDP ports carry overlay traffic. */
export interface SummarizeOptions {
  /** Link-layer type of `frame` (a `LinkType` value). Default ethernet. */
  linkType?: number;
  /** UDP port → how its payload is decoded. Default: 8472 and 4789 VXLAN, 8285 flannel-UDP. */
  ports?: ReadonlyMap<number, OverlayKind>;
  /** Expected VNI: frames with another VNI get a `[vni mismatch]` tag. */
  vni?: number;
  /** Original on-the-wire length, when larger than `frame.length` (snaplen truncation). */
  wireLength?: number;
}

/** FrameSummary is the result of `summarizeFrame`. */
export interface FrameSummary {
  /** How the frame was classified. */
  kind: FrameKind;
  /** The readable line, without timestamp. */
  text: string;
  /** VNI, for VXLAN frames whose header was readable. */
  vni?: number;
  /** Offset of the overlay payload's inner packet (inner Ethernet for VXLAN, inner IP for flannel-UDP). */
  innerOffset?: number;
}

/** DEFAULT_PORTS is the decoder's port map when none is given. */
export const DEFAULT_PORTS: ReadonlyMap<number, OverlayKind> = new Map<number, OverlayKind>([
  [DEFAULT_VXLAN_PORT, 'vxlan'],
  [VXLAN_IANA_PORT, 'vxlan'],
  [DEFAULT_FLANNEL_UDP_PORT, 'udp'],
]);

/** 802.1ad service tag (QinQ); skipped like an 802.1Q tag. */
const ETHERTYPE_QINQ = 0x88a8;

/** Malformed is thrown inside this module only, to unwind to the layer that formats the line. */
class Malformed extends Error {}

function need(len: number, off: number, n: number, what: string): void {
  if (off + n > len)
    throw new Malformed(`truncated ${what}: need ${n} bytes at ${off}, have ${Math.max(0, len - off)}`);
}

/** formatIpv4 renders 4 bytes at `off` as a dotted quad. */
function formatIpv4(buf: Uint8Array, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** formatTimestamp renders microseconds since the epoch as local `HH:MM:SS.uuuuuu` (tcpdump style). */
export function formatTimestamp(micros: number): string {
  const d = new Date(Math.floor(micros / 1000));
  const us = Math.floor(micros % 1_000_000);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.${String(us).padStart(6, '0')}`;
}

const ICMP_TYPES: Record<number, string> = {
  0: 'echo reply',
  3: 'unreachable',
  4: 'source quench',
  5: 'redirect',
  8: 'echo request',
  11: 'time exceeded',
  12: 'parameter problem',
  13: 'timestamp request',
  14: 'timestamp reply',
};

const ICMP_UNREACH: Record<number, string> = {
  0: 'net',
  1: 'host',
  2: 'protocol',
  3: 'port',
  4: 'frag needed',
  5: 'source route failed',
  9: 'net prohibited',
  10: 'host prohibited',
  13: 'admin prohibited',
};

const ICMP6_TYPES: Record<number, string> = {
  1: 'unreachable',
  2: 'packet too big',
  3: 'time exceeded',
  4: 'parameter problem',
  128: 'echo request',
  129: 'echo reply',
  133: 'router solicitation',
  134: 'router advertisement',
  135: 'neighbor solicitation',
  136: 'neighbor advertisement',
};

function tcpFlags(f: number): string {
  let s = '';
  if (f & 0x02) s += 'S';
  if (f & 0x01) s += 'F';
  if (f & 0x04) s += 'R';
  if (f & 0x08) s += 'P';
  if (f & 0x20) s += 'U';
  if (f & 0x40) s += 'E';
  if (f & 0x80) s += 'W';
  if (f & 0x10) s += '.';
  return `[${s || 'none'}]`;
}

/** Describes the transport segment at b[off..end) of an IP packet from `src` to `dst`. */
function describeL4(
  proto: number,
  b: Uint8Array,
  off: number,
  end: number,
  src: string,
  dst: string,
  v6: boolean,
): string {
  const join = (a: string, p: number): string => (v6 ? `[${a}]:${p}` : `${a}:${p}`);
  if (proto === IP_PROTO_TCP) {
    need(end, off, 20, 'TCP header');
    const sport = (b[off]! << 8) | b[off + 1]!;
    const dport = (b[off + 2]! << 8) | b[off + 3]!;
    const seq = ((b[off + 4]! << 24) | (b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]!) >>> 0;
    const ack = ((b[off + 8]! << 24) | (b[off + 9]! << 16) | (b[off + 10]! << 8) | b[off + 11]!) >>> 0;
    const doff = (b[off + 12]! >> 4) * 4;
    const flags = b[off + 13]!;
    const win = (b[off + 14]! << 8) | b[off + 15]!;
    if (doff < 20) throw new Malformed(`TCP data offset ${doff} < 20`);
    if (off + doff > end) throw new Malformed(`TCP data offset ${doff} beyond segment end`);
    const payload = end - off - doff;
    let s = `${join(src, sport)} > ${join(dst, dport)} TCP ${tcpFlags(flags)} seq ${seq}`;
    if (flags & 0x10) s += ` ack ${ack}`;
    return `${s} win ${win} len ${payload}`;
  }
  if (proto === IP_PROTO_UDP) {
    need(end, off, UDP_HEADER_SIZE, 'UDP header');
    const sport = (b[off]! << 8) | b[off + 1]!;
    const dport = (b[off + 2]! << 8) | b[off + 3]!;
    const ulen = (b[off + 4]! << 8) | b[off + 5]!;
    const tag =
      ulen < UDP_HEADER_SIZE || ulen > end - off
        ? ` [malformed: UDP length ${ulen}, segment ${end - off}]`
        : '';
    return `${join(src, sport)} > ${join(dst, dport)} UDP len ${Math.max(0, Math.min(ulen, end - off) - UDP_HEADER_SIZE)}${tag}`;
  }
  if (proto === IP_PROTO_ICMP) {
    need(end, off, 4, 'ICMP header');
    const type = b[off]!;
    const code = b[off + 1]!;
    let s = `${src} > ${dst} ICMP ${ICMP_TYPES[type] ?? `type ${type}`}`;
    if (type === 0 || type === 8 || type === 13 || type === 14) {
      need(end, off, 8, 'ICMP echo header');
      s += ` id ${(b[off + 4]! << 8) | b[off + 5]!} seq ${(b[off + 6]! << 8) | b[off + 7]!}`;
    } else if (type === 3) {
      s += ` ${ICMP_UNREACH[code] ?? `code ${code}`}`;
      if (code === 4 && end - off >= 8) s += ` mtu ${(b[off + 6]! << 8) | b[off + 7]!}`;
    } else if (type === 11) {
      s += code === 0 ? ' ttl exceeded in transit' : ' fragment reassembly time exceeded';
    } else {
      s += ` code ${code}`;
    }
    return s;
  }
  if (proto === IP_PROTO_ICMPV6) {
    need(end, off, 4, 'ICMPv6 header');
    const type = b[off]!;
    let s = `${src} > ${dst} ICMP6 ${ICMP6_TYPES[type] ?? `type ${type}`}`;
    if (type === 128 || type === 129) {
      need(end, off, 8, 'ICMPv6 echo header');
      s += ` id ${(b[off + 4]! << 8) | b[off + 5]!} seq ${(b[off + 6]! << 8) | b[off + 7]!}`;
    } else if (type === 2 && end - off >= 8) {
      s += ` mtu ${((b[off + 4]! << 24) | (b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]!) >>> 0}`;
    } else if ((type === 135 || type === 136) && end - off >= 24) {
      s += ` ${ipv6ToString(b, off + 8)}`;
    }
    return s;
  }
  return `${src} > ${dst} proto ${proto}`;
}

/** Describes an IPv4 or IPv6 packet at `off` (bytes end at `end`), as one summary fragment. */
function describeIp(b: Uint8Array, off: number, end: number): string {
  need(end, off, 1, 'IP header');
  const version = b[off]! >> 4;
  if (version === 4) return describeIpv4(b, off, end);
  if (version === 6) return describeIpv6(b, off, end);
  throw new Malformed(`IP version ${version}`);
}

function describeIpv4(b: Uint8Array, off: number, end: number): string {
  need(end, off, IPV4_MIN_HEADER_SIZE, 'IPv4 header');
  const ihl = (b[off]! & 0x0f) * 4;
  if (ihl < IPV4_MIN_HEADER_SIZE) throw new Malformed(`IPv4 IHL ${ihl} < 20`);
  need(end, off, ihl, 'IPv4 options');
  const total = (b[off + 2]! << 8) | b[off + 3]!;
  if (total < ihl) throw new Malformed(`IPv4 total length ${total} < header ${ihl}`);
  const present = end - off;
  const l4end = off + Math.min(total, present);
  const id = (b[off + 4]! << 8) | b[off + 5]!;
  const fragWord = (b[off + 6]! << 8) | b[off + 7]!;
  const mf = (fragWord & 0x2000) !== 0;
  const fragOff = (fragWord & 0x1fff) * 8;
  const proto = b[off + 9]!;
  const src = formatIpv4(b, off + 12);
  const dst = formatIpv4(b, off + 16);
  // TCP and UDP print their payload length; other protocols print the IP total length (as ping does).
  let tail = proto === IP_PROTO_TCP || proto === IP_PROTO_UDP ? '' : ` len ${total}`;
  if (total > present) tail += ` [truncated: ${present} of ${total} bytes captured]`;
  if (fragOff !== 0)
    return `${src} > ${dst} IP fragment id ${id} off ${fragOff}${mf ? '+' : ''} proto ${proto} len ${total}`;
  if (mf) tail += ` [fragment id ${id} off 0+]`;
  try {
    return describeL4(proto, b, off + ihl, l4end, src, dst, false) + tail;
  } catch (e) {
    if (e instanceof Malformed)
      return `${src} > ${dst} proto ${proto} len ${total} [malformed: ${e.message}]`;
    throw e;
  }
}

function describeIpv6(b: Uint8Array, off: number, end: number): string {
  need(end, off, IPV6_HEADER_SIZE, 'IPv6 header');
  const plen = (b[off + 4]! << 8) | b[off + 5]!;
  let next = b[off + 6]!;
  const src = ipv6ToString(b, off + 8);
  const dst = ipv6ToString(b, off + 24);
  const total = IPV6_HEADER_SIZE + plen;
  const present = end - off;
  const l4end = off + Math.min(total, present);
  let p = off + IPV6_HEADER_SIZE;
  let tail = '';
  if (total > present) tail += ` [truncated: ${present} of ${total} bytes captured]`;
  try {
    // Walk extension headers (hop-by-hop 0, routing 43, fragment 44, destination options 60).
    for (let hops = 0; hops < 8 && (next === 0 || next === 43 || next === 44 || next === 60); hops++) {
      need(l4end, p, 8, 'IPv6 extension header');
      if (next === 44) {
        const fo = (((b[p + 2]! << 8) | b[p + 3]!) & 0xfff8) as number;
        if (fo !== 0) return `${src} > ${dst} IP6 fragment off ${fo} proto ${b[p]} len ${total}${tail}`;
        next = b[p]!;
        p += 8;
      } else {
        const hlen = (b[p + 1]! + 1) * 8;
        next = b[p]!;
        p += hlen;
      }
    }
    if (p > l4end) throw new Malformed('IPv6 extension headers beyond packet end');
    const lenTag = next === IP_PROTO_TCP || next === IP_PROTO_UDP ? '' : ` len ${total}`;
    return describeL4(next, b, p, l4end, src, dst, true) + lenTag + tail;
  } catch (e) {
    if (e instanceof Malformed)
      return `${src} > ${dst} IP6 next ${next} len ${total}${tail} [malformed: ${e.message}]`;
    throw e;
  }
}

function describeArp(b: Uint8Array, off: number, end: number): string {
  need(end, off, 8, 'ARP header');
  const htype = (b[off]! << 8) | b[off + 1]!;
  const ptype = (b[off + 2]! << 8) | b[off + 3]!;
  const hlen = b[off + 4]!;
  const plen = b[off + 5]!;
  const op = (b[off + 6]! << 8) | b[off + 7]!;
  if (htype !== 1 || ptype !== ETHERTYPE_IPV4 || hlen !== 6 || plen !== 4) {
    return `ARP htype ${htype} ptype 0x${ptype.toString(16).padStart(4, '0')} op ${op}`;
  }
  need(end, off, 28, 'ARP body');
  const sha = bufferToMac(b, off + 8);
  const spa = formatIpv4(b, off + 14);
  const tpa = formatIpv4(b, off + 24);
  if (op === 1) return `ARP who-has ${tpa} tell ${spa}`;
  if (op === 2) return `ARP reply ${spa} is-at ${sha}`;
  return `ARP op ${op} ${spa} > ${tpa}`;
}

/** Describes an Ethernet payload by ethertype (inner frames of VXLAN, and plain frames). */
function describeEtherPayload(type: number, b: Uint8Array, off: number, end: number): string {
  if (type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6) return describeIp(b, off, end);
  if (type === ETHERTYPE_ARP) return describeArp(b, off, end);
  return `ethertype 0x${type.toString(16).padStart(4, '0')} len ${end - off}`;
}

/** Strips a link-layer header; returns the network-layer ethertype and offset. */
function linkLayer(
  b: Uint8Array,
  end: number,
  linkType: number,
): { type: number; off: number; macs?: string } {
  switch (linkType) {
    case LinkType.ethernet: {
      need(end, 0, ETH_HEADER_SIZE, 'Ethernet header');
      let type = (b[12]! << 8) | b[13]!;
      let off = ETH_HEADER_SIZE;
      while (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) {
        need(end, off, 4, '802.1Q tag');
        type = (b[off + 2]! << 8) | b[off + 3]!;
        off += 4;
      }
      return { type, off, macs: `${bufferToMac(b, 6)} > ${bufferToMac(b, 0)}` };
    }
    case LinkType.sll:
      need(end, 0, 16, 'Linux SLL header');
      return { type: (b[14]! << 8) | b[15]!, off: 16 };
    case LinkType.sll2:
      need(end, 0, 20, 'Linux SLL2 header');
      return { type: (b[0]! << 8) | b[1]!, off: 20 };
    case LinkType.raw: {
      need(end, 0, 1, 'IP header');
      const v = b[0]! >> 4;
      return { type: v === 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4, off: 0 };
    }
    case LinkType.null: {
      need(end, 0, 4, 'loopback header');
      // Host byte order; AF_INET is 2 everywhere, AF_INET6 varies (10 on Linux, 24/28/30 on BSDs).
      const af = b[0] === 0 ? b[3]! : b[0]!;
      return { type: af === 2 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6, off: 4 };
    }
    default:
      throw new Malformed(`unsupported link type ${linkType}`);
  }
}

interface OuterUdp {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  payloadOff: number;
  payloadEnd: number;
  notes: string;
  /** The outer packet is a first fragment: the inner packet continues in later fragments. */
  fragmented: boolean;
}

/**
 * Finds the outer IP+UDP of an underlay frame. Returns a summary directly when the frame is not
 * UDP (not-overlay / fragment / malformed), else the outer UDP fields.
 */
function outerUdp(b: Uint8Array, off: number, end: number, type: number): OuterUdp | FrameSummary {
  let proto: number;
  let l4: number;
  let l4end: number;
  let src: string;
  let dst: string;
  let notes = '';
  let v6 = false;
  let fragmented = false;
  if (type === ETHERTYPE_IPV4) {
    need(end, off, IPV4_MIN_HEADER_SIZE, 'outer IPv4 header');
    if (b[off]! >> 4 !== 4) throw new Malformed(`outer IP version ${b[off]! >> 4} in an IPv4 frame`);
    const ihl = (b[off]! & 0x0f) * 4;
    if (ihl < IPV4_MIN_HEADER_SIZE) throw new Malformed(`outer IPv4 IHL ${ihl} < 20`);
    need(end, off, ihl, 'outer IPv4 options');
    const total = (b[off + 2]! << 8) | b[off + 3]!;
    if (total < ihl) throw new Malformed(`outer IPv4 total length ${total} < header ${ihl}`);
    const fragWord = (b[off + 6]! << 8) | b[off + 7]!;
    proto = b[off + 9]!;
    src = formatIpv4(b, off + 12);
    dst = formatIpv4(b, off + 16);
    if ((fragWord & 0x1fff) !== 0) {
      const id = (b[off + 4]! << 8) | b[off + 5]!;
      return {
        kind: 'fragment',
        text: `${src} > ${dst} [outer IP fragment id ${id} off ${(fragWord & 0x1fff) * 8}${fragWord & 0x2000 ? '+' : ''} len ${total}: the underlay MTU is smaller than overlay MTU + overhead]`,
      };
    }
    if (fragWord & 0x2000) {
      fragmented = true;
      notes += ` [outer IP fragmented: id ${(b[off + 4]! << 8) | b[off + 5]!}, the underlay MTU is smaller than overlay MTU + overhead]`;
    }
    l4 = off + ihl;
    l4end = off + Math.min(total, end - off);
    if (total > end - off) notes += ` [truncated: ${end - off} of ${total} bytes captured]`;
  } else if (type === ETHERTYPE_IPV6) {
    need(end, off, IPV6_HEADER_SIZE, 'outer IPv6 header');
    proto = b[off + 6]!;
    src = ipv6ToString(b, off + 8);
    dst = ipv6ToString(b, off + 24);
    const total = IPV6_HEADER_SIZE + ((b[off + 4]! << 8) | b[off + 5]!);
    l4 = off + IPV6_HEADER_SIZE;
    l4end = off + Math.min(total, end - off);
    v6 = true;
    if (total > end - off) notes += ` [truncated: ${end - off} of ${total} bytes captured]`;
  } else {
    let text: string;
    try {
      text = describeEtherPayload(type, b, off, end);
    } catch (e) {
      if (!(e instanceof Malformed)) throw e;
      text = `[malformed: ${e.message}]`;
    }
    return { kind: 'not-overlay', text: `[not overlay] ${text}` };
  }
  if (proto !== IP_PROTO_UDP) {
    return { kind: 'not-overlay', text: `[not overlay] ${describeIp(b, off, end)}` };
  }
  need(l4end, l4, UDP_HEADER_SIZE, 'outer UDP header');
  const sport = (b[l4]! << 8) | b[l4 + 1]!;
  const dport = (b[l4 + 2]! << 8) | b[l4 + 3]!;
  const ulen = (b[l4 + 4]! << 8) | b[l4 + 5]!;
  if (ulen < UDP_HEADER_SIZE) throw new Malformed(`outer UDP length ${ulen} < 8`);
  const payloadEnd = Math.min(l4end, l4 + ulen);
  if (v6) {
    src = `[${src}]`;
    dst = `[${dst}]`;
  }
  return { src, dst, sport, dport, payloadOff: l4 + UDP_HEADER_SIZE, payloadEnd, notes, fragmented };
}

/** Decodes a VXLAN payload (RFC 7348 §5) into "VXLAN vni N | macs | inner". */
function describeVxlan(
  b: Uint8Array,
  off: number,
  end: number,
  opts: SummarizeOptions,
): { text: string; vni?: number; malformed: boolean } {
  if (end - off < VXLAN_HEADER_SIZE) {
    return { text: `VXLAN [malformed: truncated VXLAN header: ${end - off} of 8 bytes]`, malformed: true };
  }
  const flags = b[off]!;
  const flagsHex = `0x${flags.toString(16).padStart(2, '0')}`;
  if ((flags & VXLAN_FLAG_I) === 0)
    return { text: `VXLAN [malformed: bad VXLAN flags ${flagsHex}]`, malformed: true };
  const vni = (b[off + 4]! << 16) | (b[off + 5]! << 8) | b[off + 6]!;
  let text = `VXLAN vni ${vni}`;
  // RFC 7348 says ignore reserved bits on receive; Linux drops such frames, so point them out.
  const reserved = (flags & ~VXLAN_FLAG_I) | b[off + 1]! | b[off + 2]! | b[off + 3]! | b[off + 7]!;
  if (reserved !== 0) text += ` [reserved bits set: flags ${flagsHex}; Linux drops this frame]`;
  if (opts.vni !== undefined && opts.vni !== vni) text += ` [vni mismatch: expected ${opts.vni}]`;
  const eth = off + VXLAN_HEADER_SIZE;
  if (end - eth < ETH_HEADER_SIZE) {
    return {
      text: `${text} [malformed: truncated inner Ethernet: ${end - eth} of 14 bytes]`,
      vni,
      malformed: true,
    };
  }
  let type = (b[eth + 12]! << 8) | b[eth + 13]!;
  let p = eth + ETH_HEADER_SIZE;
  let vlan = '';
  if (type === ETHERTYPE_VLAN && end - p >= 4) {
    vlan = ` vlan ${((b[p]! << 8) | b[p + 1]!) & 0x0fff} [inner VLAN tag: RFC 7348 §6.1 says discard]`;
    type = (b[p + 2]! << 8) | b[p + 3]!;
    p += 4;
  }
  text += ` | ${bufferToMac(b, eth + 6)} > ${bufferToMac(b, eth)}${vlan} | `;
  try {
    return { text: text + describeEtherPayload(type, b, p, end), vni, malformed: false };
  } catch (e) {
    if (!(e instanceof Malformed)) throw e;
    return { text: `${text}[malformed: ${e.message}]`, vni, malformed: true };
  }
}

/** Decodes a flannel-UDP payload (the raw inner IP packet). */
function describeFlannelUdp(b: Uint8Array, off: number, end: number): { text: string; malformed: boolean } {
  try {
    return { text: `flannel-UDP | ${describeIp(b, off, end)}`, malformed: false };
  } catch (e) {
    if (!(e instanceof Malformed)) throw e;
    return { text: `flannel-UDP [malformed: ${e.message}]`, malformed: true };
  }
}

function overlayKindFor(
  ports: ReadonlyMap<number, OverlayKind>,
  sport: number,
  dport: number,
): OverlayKind | undefined {
  return ports.get(dport) ?? ports.get(sport);
}

/**
 * summarizeFrame decodes one captured frame into a one-line summary with outer and inner layers,
 * e.g. `192.0.2.1:49321 > 192.0.2.2:8472 VXLAN vni 1 | 0e:..:01 > 0e:..:02 | 10.244.0.1 > 10.244.1.1
 * ICMP echo request id 4 seq 1 len 84`. It never throws: problems become `[malformed: ...]` tags.
 */
export function summarizeFrame(frame: Uint8Array, opts: SummarizeOptions = {}): FrameSummary {
  const b = frame;
  const end = b.length;
  const ports = opts.ports ?? DEFAULT_PORTS;
  let trunc = '';
  if (opts.wireLength !== undefined && opts.wireLength > end)
    trunc = ` [snaplen: ${end} of ${opts.wireLength} bytes]`;
  try {
    const link = linkLayer(b, end, opts.linkType ?? LinkType.ethernet);
    const outer = outerUdp(b, link.off, end, link.type);
    if ('kind' in outer) return { ...outer, text: outer.text + trunc };
    const head = `${outer.src}:${outer.sport} > ${outer.dst}:${outer.dport}`;
    let kind = overlayKindFor(ports, outer.sport, outer.dport);
    if (kind === undefined) {
      return {
        kind: 'not-overlay',
        text: `[not overlay] ${head} UDP len ${outer.payloadEnd - outer.payloadOff}${outer.notes}${trunc}`,
      };
    }
    if (kind === 'auto') {
      // An IP packet starts with version nibble 4 or 6; a VXLAN header starts with flags 0x08.
      const v = outer.payloadEnd > outer.payloadOff ? b[outer.payloadOff]! >> 4 : 0;
      kind = v === 4 || v === 6 ? 'udp' : 'vxlan';
    }
    // In a first outer fragment the inner packet is cut by the fragmentation, not by the capture.
    const fix = (t: string): string =>
      outer.fragmented
        ? t.replace(/\[truncated: (\d+) of (\d+) bytes captured\]/, '[$1 of $2 bytes in this fragment]')
        : t;
    if (kind === 'vxlan') {
      const r = describeVxlan(b, outer.payloadOff, outer.payloadEnd, opts);
      r.text = fix(r.text);
      const res: FrameSummary = {
        kind: r.malformed ? 'malformed' : 'vxlan',
        text: `${head} ${r.text}${outer.notes}${trunc}`,
        innerOffset: outer.payloadOff + VXLAN_HEADER_SIZE,
      };
      if (r.vni !== undefined) res.vni = r.vni;
      return res;
    }
    const r = describeFlannelUdp(b, outer.payloadOff, outer.payloadEnd);
    r.text = fix(r.text);
    return {
      kind: r.malformed ? 'malformed' : 'flannel-udp',
      text: `${head} ${r.text}${outer.notes}${trunc}`,
      innerOffset: outer.payloadOff,
    };
  } catch (e) {
    const msg = e instanceof Malformed ? e.message : `decoder error: ${String(e)}`;
    return { kind: 'malformed', text: `[malformed: ${msg}] ${end} bytes${trunc}` };
  }
}

/** formatCaptureLine prefixes a summary with its timestamp, as `weft capture` prints it. */
export function formatCaptureLine(micros: number, s: FrameSummary): string {
  return `${formatTimestamp(micros)} ${s.text}`;
}

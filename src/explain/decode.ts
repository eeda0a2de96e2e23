/**
 * The frame decoder: walks a captured frame layer by layer and records every header field with
 * its offset, bytes, decoded value and defining document (the `weft explain` view), plus each
 * layer's decoded values (`info`) and first structural problem (`problem`), from which
 * src/capture/summarize.ts builds the one-line `weft capture` summary. Both views come from this
 * one pass; neither renderer reads frame bytes for protocol structure.
 *
 * Layers and references:
 *   Ethernet II        IEEE 802.3 §3.2 (Ethernet II framing per RFC 894), 802.1Q/802.1ad tags per IEEE 802.1Q §9.6
 *   Linux cooked       https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html and LINKTYPE_LINUX_SLL2.html
 *   BSD loopback       https://www.tcpdump.org/linktypes/LINKTYPE_NULL.html
 *   ARP                RFC 826
 *   IPv4               RFC 791 §3.1 (DSCP RFC 2474, ECN RFC 3168)
 *   IPv6               RFC 8200 §3, extension headers §4.3-§4.6
 *   UDP                RFC 768
 *   VXLAN              RFC 7348 §5
 *   flannel-UDP        no header: the UDP payload is the inner IP packet (flannel udp backend)
 *   ICMP               RFC 792 (next-hop MTU: RFC 1191 §4)
 *   ICMPv6             RFC 4443 §2.1
 *   TCP                RFC 9293 §3.1 (options: MSS RFC 9293 §3.2, WS/TS RFC 7323, SACK RFC 2018)
 *
 * Design notes: this is a control path that must survive any input (hex typed by hand, a corrupt
 * capture): every read is bounds-checked through `Walker.has`, a short frame ends the walk with a
 * `bad` note naming the field that did not fit, and nothing here throws on frame content. Two
 * bounds are kept apart on purpose. Field rows go as far as the captured bytes go, so the byte
 * view shows what is there; `problem` checks each header against its enclosing packet (`lim`:
 * the capture, an IP total length, a UDP length), because bytes past a packet's end (Ethernet
 * padding, a cut datagram) are not part of it. Which UDP ports carry VXLAN or flannel-UDP is
 * decided here, once, for both views.
 *
 * Two levels of detail, one walk (`ExplainOptions.detail`): `full` records every field row, note,
 * checksum verdict and the closing summary; `summary` records only what the one-line summary reads
 * (each layer's name, role, offset, `info` and `problem`). `weft capture` prints a line per frame at
 * whatever rate the overlay carries (100k+ frames/s under iperf3), and the field rows (value
 * strings, bit patterns, checksums over whole segments) cost most of a full walk, so the summary
 * walk skips them. The walk itself, every bounds check, every layer and every verdict is
 * shared: each field row is guarded by `w.full` where it is recorded, never decided elsewhere, so
 * the two levels cannot disagree (test/explain/decode-detail.test.ts checks it on fuzzed frames).
 */
import { DEFAULT_FLANNEL_UDP_PORT, DEFAULT_VXLAN_PORT } from '../encap/constants';
import { ipv6ToString, u32ToIpv4 } from '../route/addr';
// Named imports from each header module, not `import * as wire from '../wire'`: the index's
// `export *` compiles to one getter per name, and those getter calls were half of the summary
// walk's time (bench/capture.ts).
import {
  ARP_HTYPE_ETHERNET,
  ARP_OFF_HLEN,
  ARP_OFF_OPER,
  ARP_OFF_PLEN,
  ARP_OFF_PTYPE,
  ARP_OFF_SHA,
  ARP_OFF_SPA,
  ARP_OFF_THA,
  ARP_OFF_TPA,
  ARP_OP_REPLY,
  ARP_OP_REQUEST,
  ARP_PTYPE_IPV4,
  ARP_SIZE,
  arpHlen,
  arpHtype,
  arpOp,
  arpPlen,
  arpPtype,
} from '../wire/arp';
import { checksumAdd, checksumFinish } from '../wire/checksum';
import {
  checksumState,
  overlayChecksumState,
  overlayInnerIp,
  type ChecksumState,
} from '../wire/checksum-state';
import {
  ETH_ADDR_SIZE,
  ETH_HEADER_SIZE,
  ETH_OFF_DST,
  ETH_OFF_SRC,
  ETH_OFF_TYPE,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_VLAN,
} from '../wire/ethernet';
import {
  ICMPV4_CODE_FRAG_NEEDED,
  ICMPV4_DEST_UNREACHABLE,
  ICMPV4_ECHO_REPLY,
  ICMPV4_ECHO_REQUEST,
  ICMPV4_HEADER_SIZE,
  ICMPV4_OFF_CHECKSUM,
  ICMPV4_OFF_CODE,
  ICMPV4_OFF_ECHO_ID,
  ICMPV4_OFF_ECHO_SEQ,
  ICMPV4_OFF_NEXT_HOP_MTU,
  ICMPV4_PARAMETER_PROBLEM,
  ICMPV4_REDIRECT,
  ICMPV4_TIME_EXCEEDED,
  icmpv4Checksum,
  icmpv4Code,
  icmpv4EchoId,
  icmpv4EchoSeq,
  icmpv4NextHopMtu,
  icmpv4Type,
} from '../wire/icmpv4';
import {
  IP_PROTO_ICMP,
  IP_PROTO_ICMPV6,
  IP_PROTO_TCP,
  IP_PROTO_UDP,
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  IPV4_FRAGMENT_OFFSET_MASK,
  IPV4_MIN_HEADER_SIZE,
  IPV4_OFF_CHECKSUM,
  IPV4_OFF_DST,
  IPV4_OFF_FLAGS_FRAGMENT,
  IPV4_OFF_ID,
  IPV4_OFF_PROTOCOL,
  IPV4_OFF_SRC,
  IPV4_OFF_TOS,
  IPV4_OFF_TOTAL_LENGTH,
  IPV4_OFF_TTL,
  ipv4Checksum,
  ipv4ComputeChecksum,
  ipv4Dst,
  ipv4FlagsFragment,
  ipv4HeaderLength,
  ipv4Id,
  ipv4Ihl,
  ipv4Protocol,
  ipv4Src,
  ipv4Tos,
  ipv4TotalLength,
  ipv4Ttl,
  ipVersion,
  readU32,
} from '../wire/ipv4';
import {
  IPV6_ADDR_SIZE,
  IPV6_HEADER_SIZE,
  IPV6_OFF_DST,
  IPV6_OFF_HOP_LIMIT,
  IPV6_OFF_NEXT_HEADER,
  IPV6_OFF_PAYLOAD_LENGTH,
  IPV6_OFF_SRC,
  IPV6_OFF_VERSION_TC_FLOW,
  ipv6HopLimit,
  ipv6NextHeader,
  ipv6PayloadLength,
} from '../wire/ipv6';
import {
  UDP_HEADER_SIZE,
  UDP_OFF_CHECKSUM,
  UDP_OFF_DST_PORT,
  UDP_OFF_LENGTH,
  udpChecksum,
  udpDstPort,
  udpLength,
  udpSrcPort,
} from '../wire/udp';
import {
  VXLAN_FLAG_I,
  VXLAN_HEADER_SIZE,
  VXLAN_IANA_PORT,
  VXLAN_OFF_RESERVED1,
  VXLAN_OFF_RESERVED2,
  VXLAN_OFF_VNI,
  vxlanFlags,
  vxlanHasVni,
  vxlanReservedBitsSet,
  vxlanVni,
} from '../wire/vxlan';
import { ETHERTYPE_MAX_LENGTH, ICMPV6, IPV6_EXT, LOOPBACK, SLL, SLL2, TCP, VLAN } from './extra-headers';
import type {
  ArpInfo,
  DecodeDetail,
  ExplainField,
  ExplainLayer,
  ExplainNote,
  Explanation,
  Ipv6Info,
  LayerRole,
  OverlayInfo,
  Status,
} from './model';
import {
  ECN_NAMES,
  ETHERTYPES,
  ICMP_TYPES,
  ICMP_UNREACH_CODES,
  ICMPV6_TYPES,
  IP_PROTOCOLS,
  LINUX_PACKET_TYPES,
  bits,
  checksumValue,
  dscpName,
  hex,
  macKind,
  macText,
  portName,
  printable,
} from './names';

/** LinkType names the pcap LINKTYPE_* numbers the decoder reads. */
export const LinkType = {
  /** LINKTYPE_NULL: 4-byte host-order address family (BSD loopback). */
  null: 0,
  /** LINKTYPE_ETHERNET: Ethernet II. */
  ethernet: 1,
  /** LINKTYPE_RAW: a bare IPv4 or IPv6 packet. */
  raw: 101,
  /** LINKTYPE_LINUX_SLL: Linux cooked capture v1 (the `any` device). */
  sll: 113,
  /** LINKTYPE_IPV4: a bare IPv4 packet. */
  ipv4: 228,
  /** LINKTYPE_IPV6: a bare IPv6 packet. */
  ipv6: 229,
  /** LINKTYPE_LINUX_SLL2: Linux cooked capture v2. */
  sll2: 276,
} as const;

/** OverlayKind says how a UDP port's payload is decoded: VXLAN, flannel-UDP, or sniffed per packet. */
export type OverlayKind = 'vxlan' | 'udp' | 'auto';

/** DEFAULT_VXLAN_PORTS are the UDP destination ports decoded as VXLAN: Linux/flannel's 8472 and IANA's 4789. */
export const DEFAULT_VXLAN_PORTS: readonly number[] = [DEFAULT_VXLAN_PORT, VXLAN_IANA_PORT];
/** DEFAULT_FLANNEL_UDP_PORTS are the UDP destination ports decoded as flannel-UDP. */
export const DEFAULT_FLANNEL_UDP_PORTS: readonly number[] = [DEFAULT_FLANNEL_UDP_PORT];

/** DEFAULT_PORTS is the overlay port map when none is given: 8472 and 4789 VXLAN, 8285 flannel-UDP. */
export const DEFAULT_PORTS: ReadonlyMap<number, OverlayKind> = portMap(
  DEFAULT_VXLAN_PORTS,
  DEFAULT_FLANNEL_UDP_PORTS,
);

/** ExplainLink is what the frame's first byte is: an Ethernet header, an IP header or a pcap link type. */
export type ExplainLink = 'eth' | 'ip' | number;

/** ExplainOptions tune the decoder. */
export interface ExplainOptions {
  /**
   * How much to record; default `full`. `summary` records only each layer's `info` and `problem`
   * (the one-line `weft capture` summary), skipping the field rows that cost most of the walk.
   */
  detail?: DecodeDetail;
  /** First header: `eth` (default), `ip` (raw IPv4/IPv6) or a pcap LINKTYPE_* number. */
  link?: ExplainLink;
  /** UDP destination ports to decode as VXLAN; default DEFAULT_VXLAN_PORTS. */
  vxlanPorts?: readonly number[];
  /** UDP destination ports to decode as flannel-UDP; default DEFAULT_FLANNEL_UDP_PORTS. */
  udpPorts?: readonly number[];
  /** UDP port → overlay kind; when given, replaces `vxlanPorts` and `udpPorts`. */
  ports?: ReadonlyMap<number, OverlayKind>;
  /**
   * IPv4 addresses (host-order u32) of the capturing host: a wrong checksum in a packet they sent
   * is "bad, probably offload" rather than "bad" (src/wire/checksum-state.ts). Checksums that hold
   * only the pseudo-header sum are recognised as partial without it.
   */
  localAddresses?: ReadonlySet<number>;
  /**
   * Also try the source port when the destination port is no overlay port. `weft capture` sets
   * it: its filter `udp port N` matches both directions, so it decodes what it captured.
   */
  matchSourcePort?: boolean;
}

/** portMap builds an overlay port map; a port in both lists is VXLAN. */
function portMap(vxlanPorts: readonly number[], udpPorts: readonly number[]): Map<number, OverlayKind> {
  const m = new Map<number, OverlayKind>(vxlanPorts.map((p) => [p, 'vxlan']));
  for (const p of udpPorts) if (!m.has(p)) m.set(p, 'udp');
  return m;
}

function overlayPorts(opts: ExplainOptions): ReadonlyMap<number, OverlayKind> {
  if (opts.ports) return opts.ports;
  if (!opts.vxlanPorts && !opts.udpPorts) return DEFAULT_PORTS;
  return portMap(opts.vxlanPorts ?? DEFAULT_VXLAN_PORTS, opts.udpPorts ?? DEFAULT_FLANNEL_UDP_PORTS);
}

/** The IP context a transport header needs for its pseudo-header checksum and its bounds. */
interface IpContext {
  version: 4 | 6;
  /** Offset of the IP header (for the addresses). */
  ipOff: number;
  /** Transport length claimed by the IP header (payload of IP, after any extension headers). */
  payloadLen: number;
  /** Role of the IP layer; transports inherit it. */
  role: LayerRole;
  /** True inside an ICMP error: only the first bytes are present, checksums are not checked. */
  quoted: boolean;
  /** The underlay's own IP header: problems in its UDP header are worded `outer ...`. */
  underlay: boolean;
  /** End of the IP packet within its enclosing packet: transport problems are checked against it. */
  lim: number;
}

/**
 * NO_FIELDS, NO_NOTES and NO_SUMMARY are the shared, frozen `fields` and `notes` of every
 * summary-detail layer and its `summary`: nothing is allocated for them, and a row recorded without
 * its `w.full` guard throws (and the tests catch it) instead of silently costing time.
 */
const NO_FIELDS = Object.freeze([]) as unknown as ExplainField[];
const NO_NOTES = Object.freeze([]) as unknown as ExplainNote[];
const NO_SUMMARY = Object.freeze([]) as unknown as string[];

/** Walker carries the frame, the layers found so far and the overlay discovery. */
class Walker {
  readonly layers: ExplainLayer[] = [];
  overlay: OverlayInfo | undefined;
  stopped = false;
  constructor(
    readonly buf: Uint8Array,
    readonly ports: ReadonlyMap<number, OverlayKind>,
    readonly matchSourcePort: boolean,
    /** Record the byte view (field rows, notes); false for `detail: 'summary'`. */
    readonly full: boolean,
    readonly localAddresses: ReadonlySet<number> | undefined,
  ) {}

  /** localSender tells whether the IPv4 packet at `ip` was sent from a local address. */
  localSender(ip: IpContext): boolean {
    return (
      ip.version === 4 &&
      this.localAddresses !== undefined &&
      this.localAddresses.has(ipv4Src(this.buf, ip.ipOff))
    );
  }

  layer(name: string, role: LayerRole, ref: string, offset: number): ExplainLayer {
    const l: ExplainLayer = this.full
      ? { name, role, ref, offset, length: 0, fields: [], notes: [] }
      : { name, role, ref, offset, length: 0, fields: NO_FIELDS, notes: NO_NOTES };
    this.layers.push(l);
    return l;
  }

  /** has reports whether buf[off..off+len) exists; if not, notes the truncation and stops the walk. */
  has(l: ExplainLayer, off: number, len: number, what: string): boolean {
    if (off + len <= this.buf.length) return true;
    this.stopped = true;
    if (!this.full) return false;
    const left = Math.max(0, this.buf.length - off);
    l.notes.push({
      level: 'bad',
      text: `Truncated: ${what} needs bytes ${off}-${off + len - 1} but the frame ends at byte ${this.buf.length - 1} (${left} of ${len} bytes present).`,
    });
    return false;
  }

  /** note records a remark on `l` in the byte view; callers guard computed texts with `w.full`. */
  note(l: ExplainLayer, level: ExplainNote['level'], text: string): void {
    if (this.full) l.notes.push({ level, text });
  }

  /** field records a row of the byte view; only called when `w.full` (summary layers are frozen). */
  field(
    l: ExplainLayer,
    off: number,
    len: number,
    name: string,
    value: string,
    extra?: Partial<ExplainField>,
  ): void {
    l.fields.push({ offset: off, length: len, name, value, ...extra });
    l.length = Math.max(l.length, off + len - l.offset);
  }

  u16(off: number): number {
    return (this.buf[off] << 8) | this.buf[off + 1];
  }

  /**
   * overlayFor is the one place that decides, by UDP port, what a datagram's payload
   * buf[payload..payloadEnd) carries. `auto` ports sniff it: an IP packet starts with version
   * nibble 4 or 6, a VXLAN header with flags 0x08.
   */
  overlayFor(sport: number, dport: number, payload: number, payloadEnd: number): 'vxlan' | 'udp' | undefined {
    const kind = this.ports.get(dport) ?? (this.matchSourcePort ? this.ports.get(sport) : undefined);
    if (kind !== 'auto') return kind;
    const v = payloadEnd > payload ? ipVersion(this.buf, payload) : 0;
    return v === 4 || v === 6 ? 'udp' : 'vxlan';
  }
}

/** truncation words a header of `n` bytes at `off` that does not fit before `lim`, else undefined. */
function truncation(lim: number, off: number, n: number, what: string): string | undefined {
  if (off + n <= lim) return undefined;
  return `truncated ${what}: need ${n} bytes at ${off}, have ${Math.max(0, lim - off)}`;
}

/** innerEthernetTruncation words an inner Ethernet header cut short by its VXLAN datagram's end. */
function innerEthernetTruncation(lim: number, off: number): string | undefined {
  const have = lim - off;
  return have < ETH_HEADER_SIZE ? `truncated inner Ethernet: ${Math.max(0, have)} of 14 bytes` : undefined;
}

/** flag records `problem` on the layer unless an earlier one is already there. */
function flag(l: ExplainLayer, problem: string | undefined): void {
  if (problem !== undefined && l.problem === undefined) l.problem = problem;
}

/** decodeFrame walks `buf` and returns every layer it understood; never throws on frame content. */
export function decodeFrame(buf: Uint8Array, opts: ExplainOptions = {}): Explanation {
  const detail = opts.detail ?? 'full';
  const w = new Walker(
    buf,
    overlayPorts(opts),
    opts.matchSourcePort ?? false,
    detail === 'full',
    opts.localAddresses,
  );
  const link = opts.link ?? 'eth';
  const end = buf.length;
  let linkName: string;
  if (link === 'eth' || link === LinkType.ethernet) {
    linkName = 'Ethernet';
    ethernet(w, 0, end, 'outer', true);
  } else if (link === 'ip' || link === LinkType.raw || link === LinkType.ipv4 || link === LinkType.ipv6) {
    linkName = 'raw IP';
    // No EtherType: the version nibble says which underlay header the packet must be.
    const expect = end > 0 ? (ipVersion(buf, 0) === 6 ? 6 : 4) : undefined;
    ipAny(w, 0, end, 'outer', false, expect, true);
  } else if (link === LinkType.sll) {
    linkName = 'Linux cooked (SLL)';
    sll(w, end);
  } else if (link === LinkType.sll2) {
    linkName = 'Linux cooked v2 (SLL2)';
    sll2(w, end);
  } else if (link === LinkType.null) {
    linkName = 'BSD loopback';
    loopback(w, end);
  } else {
    linkName = `link type ${link}`;
    const l = w.layer('Data', 'outer', '', 0);
    if (w.full) w.note(l, 'warn', `Link type ${link} is not decoded; showing the bytes.`);
    l.problem = `unsupported link type ${link}`;
    data(w, l, 0, end);
  }
  if (buf.length === 0) {
    const l = w.layer('Frame', '', '', 0);
    w.note(l, 'bad', 'The frame is empty (0 bytes).');
  }
  if (!w.full) return { length: buf.length, linkName, layers: w.layers, summary: NO_SUMMARY, detail };
  // Fix up the overlay's outer headers from the layers before the inner frame.
  if (w.overlay) {
    const ov = w.overlay;
    ov.outer = w.layers
      .filter((l) => l.role === 'outer' && l.offset < ov.innerOffset && l.name !== 'flannel-UDP')
      .map((l) => [l.name === 'Ethernet II' ? 'Ethernet' : l.name, l.length] as [string, number]);
  }
  const ex: Explanation = { length: buf.length, linkName, layers: w.layers, summary: [], detail };
  if (w.overlay) ex.overlay = w.overlay;
  ex.summary = summarize(ex);
  return ex;
}

// ---- checksums -------------------------------------------------------------------------------

/** computeChecksum returns the checksum the field at `csumOff` should hold (field taken as zero). */
function computeChecksum(buf: Uint8Array, off: number, len: number, csumOff: number, initial = 0): number {
  let sum = checksumAdd(buf, off, csumOff - off, initial);
  const after = csumOff + 2;
  // Only the last chained range may be odd, so the range before the field must be even-aligned.
  sum = checksumAdd(buf, after, off + len - after, sum);
  return checksumFinish(sum);
}

function pseudoHeaderSum(w: Walker, ip: IpContext, proto: number, len: number): number {
  if (ip.version === 4) {
    let s = checksumAdd(w.buf, ip.ipOff + IPV4_OFF_SRC, 8, 0);
    s += proto + len;
    return s;
  }
  let s = checksumAdd(w.buf, ip.ipOff + IPV6_OFF_SRC, 2 * IPV6_ADDR_SIZE, 0);
  s += Math.floor(len / 0x10000) + (len & 0xffff) + proto;
  return s;
}

// ---- link layers -----------------------------------------------------------------------------

function ethernet(w: Walker, off: number, lim: number, role: LayerRole, underlay: boolean): void {
  const b = w.buf;
  const l = w.layer('Ethernet II', role, 'IEEE 802.3 §3.2, RFC 894', off);
  flag(
    l,
    role === 'inner'
      ? innerEthernetTruncation(lim, off)
      : truncation(lim, off, ETH_HEADER_SIZE, 'Ethernet header'),
  );
  if (!w.has(l, off + ETH_OFF_DST, ETH_ADDR_SIZE, 'destination MAC')) return;
  const dst = macText(b, off + ETH_OFF_DST);
  if (w.full) w.field(l, off, ETH_ADDR_SIZE, 'destination MAC', `${dst}  ${macKind(b, off)}`);
  if (!w.has(l, off + ETH_OFF_SRC, ETH_ADDR_SIZE, 'source MAC')) return;
  const src = macText(b, off + ETH_OFF_SRC);
  if (w.full) {
    w.field(l, off + ETH_OFF_SRC, ETH_ADDR_SIZE, 'source MAC', `${src}  ${macKind(b, off + ETH_OFF_SRC)}`);
  }
  let p = off + ETH_OFF_TYPE;
  if (!w.has(l, p, 2, 'EtherType')) return;
  let type = w.u16(p);
  let vlan: number | undefined;
  while (type === ETHERTYPE_VLAN || type === VLAN.TPID_QINQ) {
    if (w.full)
      w.field(l, p, 2, 'TPID', `${hex(type, 4)} (${ETHERTYPES[type]})`, { ref: 'IEEE 802.1Q §9.6' });
    if (role === 'inner' && vlan === undefined)
      w.note(l, 'warn', 'RFC 7348 §6.1: an inner VXLAN frame SHOULD NOT carry an 802.1Q tag.');
    flag(l, truncation(lim, p + 2, VLAN.SIZE, '802.1Q tag'));
    if (!w.has(l, p + 2, 2, 'TCI')) return;
    const tci = w.u16(p + 2);
    vlan ??= tci & VLAN.VID_MASK;
    if (w.full) {
      w.field(l, p + 2, 2, 'TCI', hex(tci, 4), {
        bits: [
          bits(tci, 0xe000, 16, 'PCP (priority)', String(tci >>> 13)),
          bits(tci, 0x1000, 16, 'DEI', String((tci >>> 12) & 1)),
          bits(tci, 0x0fff, 16, 'VLAN ID', String(tci & 0xfff)),
        ],
      });
    }
    p += VLAN.SIZE;
    if (!w.has(l, p, 2, 'EtherType')) return;
    type = w.u16(p);
  }
  const next = p + 2;
  l.info = { kind: 'link', etherType: type, payload: next, end: lim, src, dst };
  if (vlan !== undefined) l.info.vlan = vlan;
  if (type <= ETHERTYPE_MAX_LENGTH) {
    if (w.full) w.field(l, p, 2, 'length', `${type} (IEEE 802.3 length field: LLC frame, not decoded)`);
    data(w, w.layer('Data', role, '', next), next, b.length);
    return;
  }
  if (w.full) w.field(l, p, 2, 'EtherType', `${hex(type, 4)} ${ETHERTYPES[type] ?? '(unknown)'}`);
  etherPayload(w, type, next, lim, role, underlay);
}

/** etherPayload decodes what an EtherType (or a Linux cooked protocol type) announces at `off`. */
function etherPayload(
  w: Walker,
  type: number,
  off: number,
  lim: number,
  role: LayerRole,
  underlay: boolean,
): void {
  if (type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6) {
    ipAny(w, off, lim, role, false, type === ETHERTYPE_IPV4 ? 4 : 6, underlay);
  } else if (type === ETHERTYPE_ARP) {
    arp(w, off, lim, role);
  } else if (off < w.buf.length) {
    data(w, w.layer('Data', role, '', off), off, w.buf.length);
  }
}

function sll(w: Walker, lim: number): void {
  const l = w.layer('Linux cooked header', 'outer', 'LINKTYPE_LINUX_SLL', 0);
  flag(l, truncation(lim, 0, SLL.SIZE, 'Linux SLL header'));
  if (!w.has(l, 0, SLL.SIZE, 'the 16-byte SLL header')) return;
  const proto = w.u16(SLL.PROTOCOL);
  if (w.full) {
    const pt = w.u16(SLL.PKTTYPE);
    w.field(l, SLL.PKTTYPE, 2, 'packet type', `${pt} (${LINUX_PACKET_TYPES[pt] ?? 'unknown'})`);
    w.field(l, SLL.ARPHRD, 2, 'ARPHRD type', String(w.u16(SLL.ARPHRD)));
    const alen = w.u16(SLL.ADDR_LEN);
    w.field(l, SLL.ADDR_LEN, 2, 'address length', String(alen));
    w.field(
      l,
      SLL.ADDR,
      8,
      'address',
      alen === 6 ? macText(w.buf, SLL.ADDR) : hex(readU32(w.buf, SLL.ADDR), 8),
    );
    w.field(l, SLL.PROTOCOL, 2, 'protocol', `${hex(proto, 4)} ${ETHERTYPES[proto] ?? ''}`.trim());
  }
  l.info = { kind: 'link', etherType: proto, payload: SLL.SIZE, end: lim };
  etherPayload(w, proto, SLL.SIZE, lim, 'outer', true);
}

function sll2(w: Walker, lim: number): void {
  const l = w.layer('Linux cooked header v2', 'outer', 'LINKTYPE_LINUX_SLL2', 0);
  flag(l, truncation(lim, 0, SLL2.SIZE, 'Linux SLL2 header'));
  if (!w.has(l, 0, SLL2.SIZE, 'the 20-byte SLL2 header')) return;
  const b = w.buf;
  const proto = w.u16(SLL2.PROTOCOL);
  if (w.full) {
    w.field(l, SLL2.PROTOCOL, 2, 'protocol', `${hex(proto, 4)} ${ETHERTYPES[proto] ?? ''}`.trim());
    w.field(l, SLL2.RESERVED, 2, 'reserved', hex(w.u16(SLL2.RESERVED), 4));
    w.field(l, SLL2.IFINDEX, 4, 'interface index', String(readU32(b, SLL2.IFINDEX)));
    w.field(l, SLL2.ARPHRD, 2, 'ARPHRD type', String(w.u16(SLL2.ARPHRD)));
    const pt = b[SLL2.PKTTYPE];
    w.field(l, SLL2.PKTTYPE, 1, 'packet type', `${pt} (${LINUX_PACKET_TYPES[pt] ?? 'unknown'})`);
    const alen = b[SLL2.ADDR_LEN];
    w.field(l, SLL2.ADDR_LEN, 1, 'address length', String(alen));
    w.field(l, SLL2.ADDR, 8, 'address', alen === 6 ? macText(b, SLL2.ADDR) : hex(readU32(b, SLL2.ADDR), 8));
  }
  l.info = { kind: 'link', etherType: proto, payload: SLL2.SIZE, end: lim };
  etherPayload(w, proto, SLL2.SIZE, lim, 'outer', true);
}

function loopback(w: Walker, lim: number): void {
  const l = w.layer('Loopback header', 'outer', 'LINKTYPE_NULL', 0);
  flag(l, truncation(lim, 0, LOOPBACK.SIZE, 'loopback header'));
  if (!w.has(l, 0, LOOPBACK.SIZE, 'the address family')) return;
  // Host byte order: AF_INET (2) may sit in the first or the last byte.
  const b = w.buf;
  const af = b[0] === 0 ? b[3] : b[0];
  const v4 = af === LOOPBACK.AF_INET;
  if (w.full) w.field(l, 0, LOOPBACK.SIZE, 'address family', `${af} (${v4 ? 'AF_INET' : 'AF_INET6'})`);
  const type = v4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6;
  l.info = { kind: 'link', etherType: type, payload: LOOPBACK.SIZE, end: lim };
  ipAny(w, LOOPBACK.SIZE, lim, 'outer', false, v4 ? 4 : 6, true);
}

function arp(w: Walker, off: number, lim: number, role: LayerRole): void {
  const b = w.buf;
  const l = w.layer('ARP', role, 'RFC 826', off);
  flag(l, truncation(lim, off, ARP_OFF_SHA, 'ARP header'));
  if (!w.has(l, off, ARP_OFF_SHA, 'the ARP fixed header')) return;
  const htype = arpHtype(b, off);
  const ptype = arpPtype(b, off);
  const hlen = arpHlen(b, off);
  const plen = arpPlen(b, off);
  const op = arpOp(b, off);
  const info: ArpInfo = { kind: 'arp', htype, ptype, hlen, plen, op };
  if (htype === ARP_HTYPE_ETHERNET && ptype === ARP_PTYPE_IPV4 && hlen === 6 && plen === 4) {
    flag(l, truncation(lim, off, ARP_SIZE, 'ARP body'));
    if (l.problem === undefined) {
      info.sha = macText(b, off + ARP_OFF_SHA);
      info.spa = ipv4At(b, off + ARP_OFF_SPA);
      info.tpa = ipv4At(b, off + ARP_OFF_TPA);
    }
  }
  if (l.problem === undefined) l.info = info;
  if (w.full) {
    w.field(l, off, 2, 'hardware type', `${htype}${htype === ARP_HTYPE_ETHERNET ? ' (Ethernet)' : ''}`);
    w.field(l, off + ARP_OFF_PTYPE, 2, 'protocol type', `${hex(ptype, 4)} ${ETHERTYPES[ptype] ?? ''}`.trim());
    w.field(l, off + ARP_OFF_HLEN, 1, 'hardware size', String(hlen));
    w.field(l, off + ARP_OFF_PLEN, 1, 'protocol size', String(plen));
    w.field(
      l,
      off + ARP_OFF_OPER,
      2,
      'opcode',
      `${op} (${op === ARP_OP_REQUEST ? 'request' : op === ARP_OP_REPLY ? 'reply' : 'unknown'})`,
    );
  }
  if (hlen !== 6 || plen !== 4) {
    w.note(l, 'warn', `Only Ethernet/IPv4 ARP (sizes 6/4) is decoded further.`);
    return;
  }
  if (!w.has(l, off + ARP_OFF_SHA, ARP_SIZE - ARP_OFF_SHA, 'the ARP addresses')) return;
  if (w.full) {
    const spa = ipv4At(b, off + ARP_OFF_SPA);
    const tpa = ipv4At(b, off + ARP_OFF_TPA);
    w.field(l, off + ARP_OFF_SHA, 6, 'sender MAC', macText(b, off + ARP_OFF_SHA));
    w.field(l, off + ARP_OFF_SPA, 4, 'sender IP', spa);
    w.field(l, off + ARP_OFF_THA, 6, 'target MAC', macText(b, off + ARP_OFF_THA));
    w.field(l, off + ARP_OFF_TPA, 4, 'target IP', tpa);
    w.note(
      l,
      'info',
      op === ARP_OP_REQUEST
        ? `Who has ${tpa}? Tell ${spa}.`
        : `${spa} is at ${macText(b, off + ARP_OFF_SHA)}.`,
    );
  }
  trailer(w, l, off + ARP_SIZE, 'ARP message');
}

function ipv4At(buf: Uint8Array, off: number): string {
  return u32ToIpv4(readU32(buf, off));
}

/** trailer notes bytes after a layer's logical end (Ethernet padding to the 60-byte minimum). */
function trailer(w: Walker, l: ExplainLayer, end: number, what: string): void {
  if (end >= w.buf.length) return;
  const n = w.buf.length - end;
  const pad = w.buf.length <= 60 ? ' (Ethernet padding up to the 60-byte minimum frame)' : '';
  const t = w.layer('Trailer', l.role, '', end);
  if (w.full) w.field(t, end, n, 'padding', `${n} bytes after the ${what}${pad}`);
}

// ---- network layers --------------------------------------------------------------------------

/**
 * ipAny decodes an IPv4 or IPv6 header at `off` by its version nibble. `expect` is what the
 * link layer announced; for the `underlay` header (the frame's first IP header) a mismatch or a
 * short header is the frame's problem, worded `outer ...`.
 */
function ipAny(
  w: Walker,
  off: number,
  lim: number,
  role: LayerRole,
  quoted: boolean,
  expect?: 4 | 6,
  underlay = false,
): void {
  const first = w.layers.length;
  let pre: string | undefined;
  if (underlay && expect !== undefined) {
    const size = expect === 4 ? IPV4_MIN_HEADER_SIZE : IPV6_HEADER_SIZE;
    pre = truncation(lim, off, size, `outer IPv${expect} header`);
    if (pre === undefined && ipVersion(w.buf, off) !== expect)
      pre = `outer IP version ${ipVersion(w.buf, off)} in an IPv${expect} frame`;
  } else {
    pre = truncation(lim, off, 1, 'IP header');
  }
  if (off >= w.buf.length) {
    // Not even the version nibble: a placeholder layer carries the truncation.
    const l0 = w.layer('IP', role, 'RFC 791 / RFC 8200', off);
    w.has(l0, off, 1, 'the IP version nibble');
    flag(l0, pre);
    return;
  }
  const v = ipVersion(w.buf, off);
  if (v === 4) ipv4(w, off, lim, role, quoted, expect === 6, underlay);
  else if (v === 6) ipv6(w, off, lim, role, expect === 4, underlay);
  else {
    const l = w.layer('IP', role, 'RFC 791 §3.1 / RFC 8200 §3', off);
    if (w.full) {
      w.field(l, off, 1, 'version', `${v} (neither 4 nor 6)`, { status: 'bad' });
      w.note(l, 'bad', `Not an IP packet: version nibble is ${v}.`);
    }
    pre ??= `IP version ${v}`;
    data(w, w.layer('Data', role, '', off), off, w.buf.length);
  }
  // The link layer's verdict comes first: it is what a receiver checks before reading further.
  if (pre !== undefined) w.layers[first].problem = pre;
}

function ipv4(
  w: Walker,
  off: number,
  lim: number,
  role: LayerRole,
  quoted: boolean,
  mismatched: boolean,
  underlay: boolean,
): void {
  const b = w.buf;
  const l = w.layer('IPv4', role, 'RFC 791 §3.1', off);
  if (mismatched) w.note(l, 'bad', 'The EtherType said IPv6 but the version nibble is 4.');
  const pfx = underlay ? 'outer ' : '';
  const present = lim - off;
  flag(l, truncation(lim, off, IPV4_MIN_HEADER_SIZE, `${pfx}IPv4 header`));
  if (l.problem === undefined) {
    const hl = ipv4HeaderLength(b, off);
    const total = ipv4TotalLength(b, off);
    if (hl < IPV4_MIN_HEADER_SIZE) l.problem = `${pfx}IPv4 IHL ${hl} < 20`;
    flag(l, truncation(lim, off, hl, `${pfx}IPv4 options`));
    if (total < hl) flag(l, `${pfx}IPv4 total length ${total} < header ${hl}`);
    const ff = ipv4FlagsFragment(b, off);
    l.info = {
      kind: 'ipv4',
      src: u32ToIpv4(ipv4Src(b, off)),
      dst: u32ToIpv4(ipv4Dst(b, off)),
      total,
      id: ipv4Id(b, off),
      mf: (ff & IPV4_FLAG_MF) !== 0,
      fragOffset: (ff & IPV4_FRAGMENT_OFFSET_MASK) * 8,
      protocol: ipv4Protocol(b, off),
      present,
    };
  }
  const ihl = ipv4Ihl(b, off);
  const hl = ihl * 4;
  if (w.full) {
    const vihl = b[off];
    w.field(l, off, 1, 'version, IHL', `4, ${ihl} (${hl}-byte header)`, {
      status: ihl < 5 ? 'bad' : undefined,
      bits: [
        bits(vihl, 0xf0, 8, 'version', '4'),
        bits(
          vihl,
          0x0f,
          8,
          'IHL',
          `${ihl} × 4 = ${hl} bytes${ihl < 5 ? ' (must be >= 5)' : ''}`,
          ihl < 5 ? 'bad' : undefined,
        ),
      ],
    });
  }
  if (!w.has(l, off + IPV4_OFF_TOS, 1, 'type of service')) return;
  if (w.full) {
    const tos = ipv4Tos(b, off);
    w.field(l, off + IPV4_OFF_TOS, 1, 'DSCP, ECN', `${hex(tos, 2)}`, {
      ref: 'RFC 2474, RFC 3168',
      bits: [
        bits(tos, 0xfc, 8, 'DSCP', dscpName(tos >>> 2)),
        bits(tos, 0x03, 8, 'ECN', `${tos & 3} ${ECN_NAMES[tos & 3]}`),
      ],
    });
  }
  if (!w.has(l, off + IPV4_OFF_TOTAL_LENGTH, 2, 'total length')) return;
  const total = ipv4TotalLength(b, off);
  if (w.full) {
    const avail = b.length - off;
    let totalStatus: Status | undefined;
    let totalNote = '';
    if (total < hl) {
      totalStatus = 'bad';
      totalNote = ` (less than the ${hl}-byte header)`;
    } else if (!quoted && total > avail) {
      totalStatus = 'bad';
      totalNote = ` (the frame holds only ${avail})`;
    }
    w.field(
      l,
      off + IPV4_OFF_TOTAL_LENGTH,
      2,
      'total length',
      `${total} bytes${totalNote}`,
      totalStatus ? { status: totalStatus } : {},
    );
  }
  if (!w.has(l, off + IPV4_OFF_ID, 2, 'identification')) return;
  if (w.full) {
    const id = ipv4Id(b, off);
    w.field(l, off + IPV4_OFF_ID, 2, 'identification', `${hex(id, 4)} (${id})`);
  }
  if (!w.has(l, off + IPV4_OFF_FLAGS_FRAGMENT, 2, 'flags, fragment offset')) return;
  const ff = ipv4FlagsFragment(b, off);
  const mf = (ff & IPV4_FLAG_MF) !== 0;
  const fragOff = ff & IPV4_FRAGMENT_OFFSET_MASK;
  if (w.full) {
    const df = (ff & IPV4_FLAG_DF) !== 0;
    const names = [df ? 'DF' : '', mf ? 'MF' : '', fragOff ? `offset ${fragOff * 8}` : ''].filter(Boolean);
    w.field(
      l,
      off + IPV4_OFF_FLAGS_FRAGMENT,
      2,
      'flags, fragment offset',
      `${hex(ff, 4)}${names.length ? ' ' + names.join(', ') : ''}`,
      {
        bits: [
          bits(
            ff,
            0x8000,
            16,
            'reserved',
            ff & 0x8000 ? '1 (must be 0)' : '0',
            ff & 0x8000 ? 'bad' : undefined,
          ),
          bits(ff, IPV4_FLAG_DF, 16, "DF (don't fragment)", df ? '1 set' : '0 may fragment'),
          bits(ff, IPV4_FLAG_MF, 16, 'MF (more fragments)', mf ? '1 more follow' : '0 last fragment'),
          bits(
            ff,
            IPV4_FRAGMENT_OFFSET_MASK,
            16,
            'fragment offset',
            `${fragOff} (× 8 = byte ${fragOff * 8})`,
          ),
        ],
      },
    );
  }
  if (!w.has(l, off + IPV4_OFF_TTL, 1, 'time to live')) return;
  if (w.full) w.field(l, off + IPV4_OFF_TTL, 1, 'time to live', String(ipv4Ttl(b, off)));
  if (!w.has(l, off + IPV4_OFF_PROTOCOL, 1, 'protocol')) return;
  const proto = ipv4Protocol(b, off);
  if (w.full) {
    w.field(l, off + IPV4_OFF_PROTOCOL, 1, 'protocol', `${proto} ${IP_PROTOCOLS[proto] ?? '(unknown)'}`);
  }
  if (!w.has(l, off + IPV4_OFF_CHECKSUM, 2, 'header checksum')) return;
  if (w.full) {
    const complete = ihl >= 5 && off + hl <= b.length;
    const [cv, cs] = checksumValue(
      ipv4Checksum(b, off),
      complete ? ipv4ComputeChecksum(b, off) : undefined,
      ihl < 5 ? 'bad IHL' : 'header incomplete',
    );
    w.field(l, off + IPV4_OFF_CHECKSUM, 2, 'header checksum', cv, cs ? { status: cs } : {});
  }
  if (!w.has(l, off + IPV4_OFF_SRC, 4, 'source address')) return;
  if (w.full) w.field(l, off + IPV4_OFF_SRC, 4, 'source address', u32ToIpv4(ipv4Src(b, off)));
  if (!w.has(l, off + IPV4_OFF_DST, 4, 'destination address')) return;
  if (w.full) w.field(l, off + IPV4_OFF_DST, 4, 'destination address', u32ToIpv4(ipv4Dst(b, off)));
  if (ihl < 5) {
    if (w.full) w.note(l, 'bad', `IHL ${ihl} is below the minimum of 5; the payload is not decoded.`);
    w.stopped = true;
    return;
  }
  if (hl > IPV4_MIN_HEADER_SIZE) {
    if (!w.has(l, off + IPV4_MIN_HEADER_SIZE, hl - IPV4_MIN_HEADER_SIZE, 'options')) return;
    if (w.full) {
      w.field(l, off + IPV4_MIN_HEADER_SIZE, hl - IPV4_MIN_HEADER_SIZE, 'options', `${hl - 20} bytes`);
    }
  }
  const start = off + hl;
  const end = quoted ? b.length : Math.min(b.length, off + Math.max(total, hl));
  if (fragOff !== 0) {
    w.note(l, 'info', 'A non-first fragment: its payload continues an earlier packet.');
    if (start < end) data(w, w.layer('Data', role, '', start), start, end);
    if (!quoted) trailer(w, l, end, 'IPv4 packet');
    return;
  }
  if (mf && !quoted) w.note(l, 'info', 'First fragment of a fragmented packet (MF set).');
  if (quoted) w.note(l, 'info', 'This IPv4 header is quoted inside an ICMP error message.');
  const ip: IpContext = {
    version: 4,
    ipOff: off,
    payloadLen: Math.max(0, total - hl),
    role,
    quoted,
    underlay,
    lim: off + Math.max(0, Math.min(total, present)),
  };
  transport(w, proto, start, end, ip);
  if (!quoted && !w.stopped) trailer(w, l, end, 'IPv4 packet');
}

const IPV6_EXT_LAYERS: Record<number, [string, string]> = {
  [IPV6_EXT.HOP_BY_HOP]: ['IPv6 hop-by-hop options', 'RFC 8200 §4.3'],
  [IPV6_EXT.ROUTING]: ['IPv6 routing header', 'RFC 8200 §4.4'],
  [IPV6_EXT.FRAGMENT]: ['IPv6 fragment header', 'RFC 8200 §4.5'],
  [IPV6_EXT.DEST_OPTIONS]: ['IPv6 destination options', 'RFC 8200 §4.6'],
};

function ipv6(
  w: Walker,
  off: number,
  lim: number,
  role: LayerRole,
  mismatched: boolean,
  underlay: boolean,
): void {
  const b = w.buf;
  const l = w.layer('IPv6', role, 'RFC 8200 §3', off);
  if (mismatched) w.note(l, 'bad', 'The EtherType said IPv4 but the version nibble is 6.');
  flag(l, truncation(lim, off, IPV6_HEADER_SIZE, `${underlay ? 'outer ' : ''}IPv6 header`));
  if (!w.has(l, off, 4, 'version, traffic class, flow label')) return;
  if (w.full) {
    const word = readU32(b, off + IPV6_OFF_VERSION_TC_FLOW);
    const tc = (word >>> 20) & 0xff;
    w.field(l, off, 4, 'version, class, flow', `6, tc ${hex(tc, 2)}, flow ${hex(word & 0xfffff, 5)}`, {
      bits: [
        bits(word, 0xf0000000, 32, 'version', '6'),
        bits(word, 0x0fc00000, 32, 'DSCP', dscpName(tc >>> 2)),
        bits(word, 0x00300000, 32, 'ECN', `${tc & 3} ${ECN_NAMES[tc & 3]}`),
        bits(word, 0x000fffff, 32, 'flow label', hex(word & 0xfffff, 5)),
      ],
    });
  }
  if (!w.has(l, off + IPV6_OFF_PAYLOAD_LENGTH, 2, 'payload length')) return;
  const plen = ipv6PayloadLength(b, off);
  if (w.full) {
    const avail = b.length - off - IPV6_HEADER_SIZE;
    w.field(
      l,
      off + IPV6_OFF_PAYLOAD_LENGTH,
      2,
      'payload length',
      `${plen} bytes${plen > avail ? ` (the frame holds only ${Math.max(0, avail)})` : ''}`,
      plen > avail ? { status: 'bad' } : {},
    );
  }
  if (!w.has(l, off + IPV6_OFF_NEXT_HEADER, 1, 'next header')) return;
  const nh = ipv6NextHeader(b, off);
  if (w.full) {
    w.field(l, off + IPV6_OFF_NEXT_HEADER, 1, 'next header', `${nh} ${IP_PROTOCOLS[nh] ?? '(unknown)'}`);
  }
  if (!w.has(l, off + IPV6_OFF_HOP_LIMIT, 1, 'hop limit')) return;
  if (w.full) w.field(l, off + IPV6_OFF_HOP_LIMIT, 1, 'hop limit', String(ipv6HopLimit(b, off)));
  if (!w.has(l, off + IPV6_OFF_SRC, IPV6_ADDR_SIZE, 'source address')) return;
  const src = ipv6ToString(b, off + IPV6_OFF_SRC);
  if (w.full) w.field(l, off + IPV6_OFF_SRC, IPV6_ADDR_SIZE, 'source address', src);
  if (!w.has(l, off + IPV6_OFF_DST, IPV6_ADDR_SIZE, 'destination address')) return;
  const dst = ipv6ToString(b, off + IPV6_OFF_DST);
  if (w.full) w.field(l, off + IPV6_OFF_DST, IPV6_ADDR_SIZE, 'destination address', dst);
  const start = off + IPV6_HEADER_SIZE;
  const end = Math.min(b.length, start + plen);
  const total = IPV6_HEADER_SIZE + plen;
  const present = lim - off;
  const ipLim = off + Math.max(0, Math.min(total, present));
  const info: Ipv6Info = { kind: 'ipv6', src, dst, total, present, protocol: nh, exts: 0 };
  if (l.problem === undefined) l.info = info;

  // Extension headers (RFC 8200 §4): the byte view follows the captured bytes, the verdict the
  // Payload Length; each ends where the other would, so both walk the same chain.
  let next = nh;
  let p = start;
  let live = true;
  let fragmentOnly = false;
  for (let hops = 0; hops < IPV6_EXT.MAX_CHAIN && IPV6_EXT_LAYERS[next] !== undefined; hops++) {
    if (info.extProblem === undefined) {
      const t = truncation(ipLim, p, IPV6_EXT.MIN_SIZE, 'IPv6 extension header');
      if (t !== undefined) {
        info.extProblem = t;
        info.extProblemNext = next;
      }
    }
    if (!live) break;
    const [name, ref] = IPV6_EXT_LAYERS[next];
    const x = w.layer(name, role, ref, p);
    info.exts++;
    if (!w.has(x, p, 2, 'next header, length')) {
      live = false;
      break;
    }
    const after = b[p];
    if (w.full) w.field(x, p, 1, 'next header', `${after} ${IP_PROTOCOLS[after] ?? '(unknown)'}`);
    if (next === IPV6_EXT.FRAGMENT) {
      if (w.full) w.field(x, p + 1, 1, 'reserved', hex(b[p + 1], 2));
      if (!w.has(x, p + IPV6_EXT.FRAG_OFFSET, 6, 'fragment offset, identification')) {
        live = false;
        break;
      }
      const word = w.u16(p + IPV6_EXT.FRAG_OFFSET);
      const fo = word & IPV6_EXT.FRAG_OFFSET_MASK;
      const more = (word & 1) !== 0;
      if (w.full) {
        w.field(
          x,
          p + IPV6_EXT.FRAG_OFFSET,
          2,
          'fragment offset, M',
          `${fo >>> 3} (byte ${fo})${more ? ', M' : ''}`,
          {
            bits: [
              bits(word, IPV6_EXT.FRAG_OFFSET_MASK, 16, 'fragment offset', `${fo >>> 3} (× 8 = byte ${fo})`),
              bits(word, 0x0006, 16, 'reserved', String((word >>> 1) & 3)),
              bits(word, 0x0001, 16, 'M (more fragments)', more ? '1 more follow' : '0 last fragment'),
            ],
          },
        );
        const fid = readU32(b, p + IPV6_EXT.FRAG_ID);
        w.field(x, p + IPV6_EXT.FRAG_ID, 4, 'identification', `${hex(fid, 8)} (${fid})`);
      }
      if (fo !== 0) {
        if (info.extProblem === undefined) info.fragment = { offset: fo, protocol: after };
        w.note(x, 'info', 'A non-first fragment: its payload continues an earlier packet.');
        fragmentOnly = true;
        p += IPV6_EXT.MIN_SIZE;
        break;
      }
      if (more) w.note(x, 'info', 'First fragment of a fragmented packet (M set).');
      next = after;
      p += IPV6_EXT.MIN_SIZE;
    } else {
      const hlen = (b[p + IPV6_EXT.LENGTH] + 1) * 8;
      if (w.full)
        w.field(x, p + IPV6_EXT.LENGTH, 1, 'header length', `${b[p + IPV6_EXT.LENGTH]} (${hlen} bytes)`);
      if (!w.has(x, p + 2, hlen - 2, next === IPV6_EXT.ROUTING ? 'routing data' : 'options')) live = false;
      else if (w.full && next === IPV6_EXT.ROUTING) {
        w.field(x, p + 2, 1, 'routing type', String(b[p + 2]));
        w.field(x, p + 3, 1, 'segments left', String(b[p + 3]));
        w.field(x, p + 4, hlen - 4, 'data', `${hlen - 4} bytes`);
      } else if (w.full) {
        w.field(x, p + 2, hlen - 2, 'options', `${hlen - 2} bytes`);
      }
      next = after;
      p += hlen;
    }
  }
  if (info.extProblem === undefined && info.fragment === undefined && p > ipLim) {
    info.extProblem = 'IPv6 extension headers beyond packet end';
    info.extProblemNext = next;
  }
  info.protocol = next;
  if (!live) return;
  const ip: IpContext = {
    version: 6,
    ipOff: off,
    payloadLen: Math.max(0, plen - (p - start)),
    role,
    quoted: false,
    underlay,
    lim: ipLim,
  };
  if (fragmentOnly) {
    if (p < end) data(w, w.layer('Data', role, '', p), p, end);
  } else if (next === IP_PROTO_TCP || next === IP_PROTO_UDP || next === IP_PROTO_ICMPV6) {
    transport(w, next, p, end, ip);
  } else if (p < end) {
    if (w.full) w.note(l, 'info', `Next header ${next} is not decoded; showing the bytes.`);
    data(w, w.layer('Data', role, '', p), p, end);
  }
  if (!w.stopped) trailer(w, l, end, 'IPv6 packet');
}

function transport(w: Walker, proto: number, start: number, end: number, ip: IpContext): void {
  if (proto === IP_PROTO_UDP) udp(w, start, end, ip);
  else if (proto === IP_PROTO_TCP) tcp(w, start, end, ip);
  else if (proto === IP_PROTO_ICMP && ip.version === 4) icmp(w, start, end, ip);
  else if (proto === IP_PROTO_ICMPV6 && ip.version === 6) icmpv6(w, start, end, ip);
  else if (start < end) data(w, w.layer('Data', ip.role, '', start), start, end);
}

// ---- transport layers ------------------------------------------------------------------------

function udp(w: Walker, off: number, end: number, ip: IpContext): void {
  const b = w.buf;
  const l = w.layer('UDP', ip.role, 'RFC 768', off);
  flag(l, truncation(ip.lim, off, UDP_HEADER_SIZE, `${ip.underlay ? 'outer ' : ''}UDP header`));
  if (!w.has(l, off, 2, 'source port')) return;
  const sport = udpSrcPort(b, off);
  if (!w.has(l, off + UDP_OFF_DST_PORT, 2, 'destination port')) {
    if (w.full) w.field(l, off, 2, 'source port', portName(sport));
    return;
  }
  const dport = udpDstPort(b, off);
  const readable = off + UDP_OFF_LENGTH + 2 <= b.length;
  const ulen = readable ? udpLength(b, off) : 0;
  const payloadEnd = Math.min(ip.lim, off + ulen);
  const overlay = ip.quoted ? undefined : w.overlayFor(sport, dport, off + UDP_HEADER_SIZE, payloadEnd);
  if (l.problem === undefined) {
    if (ip.underlay && ulen < UDP_HEADER_SIZE) l.problem = `outer UDP length ${ulen} < 8`;
    l.info = {
      kind: 'udp',
      sport,
      dport,
      length: ulen,
      payload: off + UDP_HEADER_SIZE,
      end: payloadEnd,
      segment: ip.lim - off,
    };
    if (overlay) l.info.overlay = overlay;
  }
  const isVxlan = overlay === 'vxlan';
  if (w.full) {
    // RFC 7348 §5 recommends a hash of the inner flow as the source port; a sender that uses its
    // bound port (flannel's udp backend, a weft node without --src-port flow) sends an overlay port.
    const toVtep = isVxlan && w.ports.has(dport);
    const fixed = sport === dport || w.ports.has(sport);
    const srcNote = !toVtep
      ? ''
      : fixed
        ? "  fixed: the sender's bound port, the same for every flow (not a flow hash)"
        : '  likely a hash of the inner flow, the same for every packet of a flow';
    w.field(l, off, 2, 'source port', portName(sport) + srcNote, toVtep ? { ref: 'RFC 7348 §5' } : {});
    w.field(l, off + UDP_OFF_DST_PORT, 2, 'destination port', portName(dport));
  }
  if (!w.has(l, off + UDP_OFF_LENGTH, 2, 'length')) return;
  const len = ulen;
  if (w.full) udpLengthField(w, l, off, len, ip);
  if (!w.has(l, off + UDP_OFF_CHECKSUM, 2, 'checksum')) return;
  if (ip.quoted) {
    if (w.full) {
      const stored = udpChecksum(b, off);
      w.field(l, off + UDP_OFF_CHECKSUM, 2, 'checksum', `${hex(stored, 4)} (not checked in a quoted header)`);
    }
    return;
  }
  // The one-line view shows an overlay datagram's checksum state; the byte view words it in its row.
  if (overlay && ip.version === 4 && l.info?.kind === 'udp') {
    const st = udpState(w, off, len, ip, overlay);
    if (st !== undefined) l.info.checksum = st;
  }
  if (w.full) udpChecksumField(w, l, off, len, ip);
  const pstart = off + UDP_HEADER_SIZE;
  const pend = Math.min(end, len >= 8 ? off + len : end);
  if (isVxlan) vxlan(w, pstart, pend, payloadEnd);
  else if (overlay === 'udp') flannelUdp(w, pstart, pend, payloadEnd);
  else if (pstart < pend) data(w, w.layer('Data', ip.role, '', pstart), pstart, pend);
}

/** udpLengthField records the UDP Length row, checked against the IP payload and the capture. */
function udpLengthField(w: Walker, l: ExplainLayer, off: number, len: number, ip: IpContext): void {
  let lenNote = '';
  let lenStatus: Status | undefined;
  if (len < 8) {
    lenNote = ' (less than the 8-byte header)';
    lenStatus = 'bad';
  } else if (!ip.quoted && len !== ip.payloadLen) {
    lenNote = ` (IP says ${ip.payloadLen})`;
    lenStatus = 'bad';
  } else if (!ip.quoted && off + len > w.buf.length) {
    lenNote = ` (the frame holds only ${w.buf.length - off})`;
    lenStatus = 'bad';
  }
  w.field(
    l,
    off + UDP_OFF_LENGTH,
    2,
    'length',
    `${len} bytes (8 header + ${Math.max(0, len - 8)} payload)${lenNote}`,
    lenStatus ? { status: lenStatus } : {},
  );
}

/** udpState classifies the checksum of a complete UDP datagram; undefined when it is not all there. */
function udpState(
  w: Walker,
  off: number,
  len: number,
  ip: IpContext,
  overlay: 'vxlan' | 'udp' | undefined,
): ChecksumState | undefined {
  const b = w.buf;
  if (len < 8 || off + len > b.length) return undefined;
  const stored = udpChecksum(b, off);
  if (stored === 0 && ip.version === 4) return 'none';
  const pseudo = pseudoHeaderSum(w, ip, IP_PROTO_UDP, len);
  const sum = checksumAdd(b, off, len, pseudo) - stored;
  const inner = overlay ? overlayInnerIp(b, off, off + len, overlay) : -1;
  return overlayChecksumState(b, stored, sum, pseudo, ip.version === 4, w.localSender(ip), inner, off + len);
}

/** udpChecksumField records the UDP checksum row of a datagram that is not quoted, verifying it. */
function udpChecksumField(w: Walker, l: ExplainLayer, off: number, len: number, ip: IpContext): void {
  const b = w.buf;
  const stored = udpChecksum(b, off);
  if (stored === 0 && ip.version === 4) {
    w.field(
      l,
      off + UDP_OFF_CHECKSUM,
      2,
      'checksum',
      '0x0000 none (allowed over IPv4; RFC 7348 §5 says SHOULD be zero)',
    );
  } else if (stored === 0) {
    w.field(
      l,
      off + UDP_OFF_CHECKSUM,
      2,
      'checksum',
      '0x0000 missing (IPv6 requires a UDP checksum, RFC 8200 §8.1)',
      { status: 'bad' },
    );
  } else {
    const ok = len >= 8 && off + len <= b.length;
    let computed = ok
      ? computeChecksum(b, off, len, off + UDP_OFF_CHECKSUM, pseudoHeaderSum(w, ip, IP_PROTO_UDP, len))
      : undefined;
    if (computed === 0) computed = 0xffff; // RFC 768: a computed zero is sent as all ones
    const st = ok
      ? udpState(w, off, len, ip, l.info?.kind === 'udp' ? l.info.overlay : undefined)
      : undefined;
    const [cv, cs] = checksumValue(stored, computed, 'datagram incomplete', st);
    w.field(
      l,
      off + UDP_OFF_CHECKSUM,
      2,
      'checksum',
      cv + (ok ? ' (over pseudo-header + datagram)' : ''),
      cs ? { status: cs } : {},
    );
  }
}

function tcp(w: Walker, off: number, end: number, ip: IpContext): void {
  const b = w.buf;
  const l = w.layer('TCP', ip.role, 'RFC 9293 §3.1', off);
  flag(l, truncation(ip.lim, off, TCP.MIN_SIZE, 'TCP header'));
  if (l.problem === undefined) {
    const hl = (b[off + TCP.DOFF_FLAGS] >>> 4) * 4;
    if (hl < TCP.MIN_SIZE) l.problem = `TCP data offset ${hl} < 20`;
    else if (off + hl > ip.lim) l.problem = `TCP data offset ${hl} beyond segment end`;
    l.info = {
      kind: 'tcp',
      sport: w.u16(off + TCP.SRC_PORT),
      dport: w.u16(off + TCP.DST_PORT),
      seq: readU32(b, off + TCP.SEQ),
      ack: readU32(b, off + TCP.ACK),
      flags: b[off + TCP.FLAGS],
      window: w.u16(off + TCP.WINDOW),
      payloadLength: ip.lim - off - hl,
    };
    if (hl > TCP.MIN_SIZE && off + hl <= b.length)
      l.info.options = tcpOptionsText(b, off + TCP.MIN_SIZE, off + hl);
  }
  if (!w.has(l, off, 4, 'ports')) return;
  if (w.full) {
    w.field(l, off + TCP.SRC_PORT, 2, 'source port', portName(w.u16(off + TCP.SRC_PORT)));
    w.field(l, off + TCP.DST_PORT, 2, 'destination port', portName(w.u16(off + TCP.DST_PORT)));
  }
  if (ip.quoted && off + 8 > b.length) return;
  if (!w.has(l, off + TCP.SEQ, 4, 'sequence number')) return;
  if (w.full) w.field(l, off + TCP.SEQ, 4, 'sequence number', String(readU32(b, off + TCP.SEQ)));
  if (ip.quoted && off + TCP.MIN_SIZE > b.length) {
    w.note(l, 'info', 'ICMP quotes only the first 8 bytes of the TCP header.');
    return;
  }
  if (!w.has(l, off + TCP.ACK, 4, 'acknowledgment number')) return;
  if (w.full) w.field(l, off + TCP.ACK, 4, 'acknowledgment number', String(readU32(b, off + TCP.ACK)));
  if (!w.has(l, off + TCP.DOFF_FLAGS, 2, 'data offset, flags')) return;
  const doff = b[off + TCP.DOFF_FLAGS] >>> 4;
  if (w.full) tcpFlagsField(w, l, off, doff);
  if (!w.has(l, off + TCP.WINDOW, 2, 'window')) return;
  if (w.full) w.field(l, off + TCP.WINDOW, 2, 'window', String(w.u16(off + TCP.WINDOW)));
  if (!w.has(l, off + TCP.CHECKSUM, 2, 'checksum')) return;
  if (w.full) {
    const stored = w.u16(off + TCP.CHECKSUM);
    const segLen = ip.payloadLen;
    const complete = !ip.quoted && off + segLen <= b.length && segLen >= TCP.MIN_SIZE;
    const pseudo = complete ? pseudoHeaderSum(w, ip, IP_PROTO_TCP, segLen) : 0;
    const computed = complete ? computeChecksum(b, off, segLen, off + TCP.CHECKSUM, pseudo) : undefined;
    const [cv, cs] = checksumValue(
      stored,
      computed,
      ip.quoted ? 'quoted header' : 'segment incomplete',
      computed !== undefined ? checksumState(stored, computed, pseudo, false, w.localSender(ip)) : undefined,
    );
    w.field(l, off + TCP.CHECKSUM, 2, 'checksum', cv, cs ? { status: cs } : {});
  }
  if (!w.has(l, off + TCP.URGENT, 2, 'urgent pointer')) return;
  if (w.full) w.field(l, off + TCP.URGENT, 2, 'urgent pointer', String(w.u16(off + TCP.URGENT)));
  if (doff < 5) {
    if (w.full) w.note(l, 'bad', `Data offset ${doff} is below the minimum of 5.`);
    w.stopped = true;
    return;
  }
  const hl = doff * 4;
  if (hl > TCP.MIN_SIZE) {
    if (!w.has(l, off + TCP.MIN_SIZE, hl - TCP.MIN_SIZE, 'options')) return;
    if (w.full) tcpOptions(w, l, off + TCP.MIN_SIZE, off + hl);
  }
  const pstart = off + hl;
  if (pstart < end) data(w, w.layer('Data', ip.role, '', pstart), pstart, end);
}

/** TCP_FLAG_NAMES names the eight TCP control bits, bit 0 (FIN) first. */
const TCP_FLAG_NAMES = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'];

/** tcpFlagsField records the data offset and control bits row, each bit broken out. */
function tcpFlagsField(w: Walker, l: ExplainLayer, off: number, doff: number): void {
  const word = w.u16(off + TCP.DOFF_FLAGS);
  const set = TCP_FLAG_NAMES.filter((_, i) => word & (1 << i));
  const flagBits = TCP_FLAG_NAMES.map((n, i) =>
    bits(word, 1 << i, 16, n, word & (1 << i) ? '1' : '0'),
  ).reverse();
  w.field(l, off + TCP.DOFF_FLAGS, 2, 'data offset, flags', `${doff * 4}-byte header, [${set.join(', ')}]`, {
    status: doff < 5 ? 'bad' : undefined,
    bits: [
      bits(word, 0xf000, 16, 'data offset', `${doff} × 4 = ${doff * 4} bytes`, doff < 5 ? 'bad' : undefined),
      bits(word, 0x0f00, 16, 'reserved', String((word >>> 8) & 0xf)),
      ...flagBits,
    ],
  });
}

function tcpOptions(w: Walker, l: ExplainLayer, p: number, end: number): void {
  const b = w.buf;
  while (p < end) {
    const kind = b[p];
    if (kind === 0) {
      w.field(l, p, end - p, 'option EOL', 'end of option list');
      return;
    }
    if (kind === 1) {
      w.field(l, p, 1, 'option NOP', 'padding');
      p++;
      continue;
    }
    const len = p + 1 < end ? b[p + 1] : 0;
    if (len < 2 || p + len > end) {
      w.field(l, p, end - p, 'options', `malformed option kind ${kind}, length ${len}`, { status: 'bad' });
      return;
    }
    if (kind === 2 && len === 4)
      w.field(l, p, 4, 'option MSS', `${w.u16(p + 2)} bytes`, { ref: 'RFC 9293 §3.7.1' });
    else if (kind === 3 && len === 3)
      w.field(l, p, 3, 'option window scale', `shift ${b[p + 2]} (× ${2 ** b[p + 2]})`, {
        ref: 'RFC 7323 §2',
      });
    else if (kind === 4 && len === 2) w.field(l, p, 2, 'option SACK permitted', 'yes', { ref: 'RFC 2018' });
    else if (kind === 5) w.field(l, p, len, 'option SACK', `${(len - 2) / 8} block(s)`, { ref: 'RFC 2018' });
    else if (kind === 8 && len === 10)
      w.field(l, p, 10, 'option timestamps', `TSval ${readU32(b, p + 2)}, TSecr ${readU32(b, p + 6)}`, {
        ref: 'RFC 7323 §3',
      });
    else w.field(l, p, len, `option ${kind}`, `${len} bytes`);
    p += len;
  }
}

/** tcpOptionsText renders TCP options the way tcpdump does, e.g. `mss 1410,sackOK,TS val 1 ecr 0,nop,wscale 7`. */
function tcpOptionsText(b: Uint8Array, p: number, end: number): string {
  const out: string[] = [];
  while (p < end) {
    const kind = b[p];
    if (kind === 0) {
      out.push('eol');
      break;
    }
    if (kind === 1) {
      out.push('nop');
      p++;
      continue;
    }
    const len = p + 1 < end ? b[p + 1] : 0;
    if (len < 2 || p + len > end) {
      out.push(`bad opt ${kind}`);
      break;
    }
    if (kind === 2 && len === 4) out.push(`mss ${(b[p + 2] << 8) | b[p + 3]}`);
    else if (kind === 3 && len === 3) out.push(`wscale ${b[p + 2]}`);
    else if (kind === 4 && len === 2) out.push('sackOK');
    else if (kind === 5) out.push(`sack ${(len - 2) >>> 3}`);
    else if (kind === 8 && len === 10) out.push(`TS val ${readU32(b, p + 2)} ecr ${readU32(b, p + 6)}`);
    else out.push(`opt-${kind}:${len}`);
    p += len;
  }
  return out.join(',');
}

function icmp(w: Walker, off: number, end: number, ip: IpContext): void {
  const b = w.buf;
  const l = w.layer('ICMP', ip.role, 'RFC 792', off);
  flag(l, truncation(ip.lim, off, ICMPV4_OFF_CHECKSUM + 2, 'ICMP header'));
  if (l.problem === undefined) {
    const t = icmpv4Type(b, off);
    // Echo and timestamp messages keep their identifier and sequence in the second word.
    if (t === ICMPV4_ECHO_REPLY || t === ICMPV4_ECHO_REQUEST || t === 13 || t === 14)
      flag(l, truncation(ip.lim, off, ICMPV4_HEADER_SIZE, 'ICMP echo header'));
    l.info = { kind: 'icmp', type: t, code: icmpv4Code(b, off), length: ip.payloadLen };
    if (ip.lim - off >= ICMPV4_HEADER_SIZE) l.info.rest = readU32(b, off + ICMPV4_OFF_ECHO_ID);
  }
  if (!w.has(l, off, 2, 'type and code')) return;
  const type = icmpv4Type(b, off);
  const code = icmpv4Code(b, off);
  if (w.full) {
    w.field(l, off, 1, 'type', `${type} ${ICMP_TYPES[type] ?? '(unknown)'}`);
    const codeName =
      type === ICMPV4_DEST_UNREACHABLE
        ? ICMP_UNREACH_CODES[code]
        : type === ICMPV4_TIME_EXCEEDED
          ? code === 0
            ? 'TTL exceeded in transit'
            : 'fragment reassembly time exceeded'
          : undefined;
    w.field(l, off + ICMPV4_OFF_CODE, 1, 'code', `${code}${codeName ? ' ' + codeName : ''}`);
  }
  if (!w.has(l, off + ICMPV4_OFF_CHECKSUM, 2, 'checksum')) return;
  if (w.full) {
    const mlen = end - off;
    const complete = !ip.quoted && off + ip.payloadLen <= b.length && mlen === ip.payloadLen;
    const [cv, cs] = checksumValue(
      icmpv4Checksum(b, off),
      complete ? computeChecksum(b, off, mlen, off + ICMPV4_OFF_CHECKSUM) : undefined,
      'message incomplete',
    );
    w.field(
      l,
      off + ICMPV4_OFF_CHECKSUM,
      2,
      'checksum',
      cv + (complete ? ` (over ${mlen} bytes)` : ''),
      cs ? { status: cs } : {},
    );
  }
  if (!w.has(l, off + ICMPV4_OFF_ECHO_ID, 4, 'rest of header')) return;
  const body = off + ICMPV4_HEADER_SIZE;
  if (type === ICMPV4_ECHO_REPLY || type === ICMPV4_ECHO_REQUEST) {
    if (w.full) {
      const id = icmpv4EchoId(b, off);
      w.field(l, off + ICMPV4_OFF_ECHO_ID, 2, 'identifier', `${hex(id, 4)} (${id})`);
      w.field(l, off + ICMPV4_OFF_ECHO_SEQ, 2, 'sequence number', String(icmpv4EchoSeq(b, off)));
    }
    if (body < end) data(w, w.layer('Data', ip.role, '', body), body, end);
    return;
  }
  if (w.full) icmpRestField(w, l, off, type, code);
  const quotes =
    type === ICMPV4_DEST_UNREACHABLE || type === ICMPV4_TIME_EXCEEDED || type === ICMPV4_PARAMETER_PROBLEM;
  if (quotes && body < b.length && !ip.quoted) {
    ipAny(w, body, b.length, 'quoted', true);
    return;
  }
  if (body < end) data(w, w.layer('Data', ip.role, '', body), body, end);
}

/** icmpRestField records the second word of a non-echo ICMP header: next-hop MTU, gateway or unused. */
function icmpRestField(w: Walker, l: ExplainLayer, off: number, type: number, code: number): void {
  const b = w.buf;
  if (type === ICMPV4_DEST_UNREACHABLE && code === ICMPV4_CODE_FRAG_NEEDED) {
    w.field(l, off + ICMPV4_OFF_ECHO_ID, 2, 'unused', hex(w.u16(off + ICMPV4_OFF_ECHO_ID), 4));
    w.field(l, off + ICMPV4_OFF_NEXT_HOP_MTU, 2, 'next-hop MTU', `${icmpv4NextHopMtu(b, off)} bytes`, {
      ref: 'RFC 1191 §4',
    });
  } else {
    w.field(
      l,
      off + ICMPV4_OFF_ECHO_ID,
      4,
      type === ICMPV4_REDIRECT ? 'gateway address' : 'unused',
      type === ICMPV4_REDIRECT
        ? ipv4At(b, off + ICMPV4_OFF_ECHO_ID)
        : hex(readU32(b, off + ICMPV4_OFF_ECHO_ID), 8),
    );
  }
}

function icmpv6(w: Walker, off: number, end: number, ip: IpContext): void {
  const b = w.buf;
  const l = w.layer('ICMPv6', ip.role, 'RFC 4443 §2.1', off);
  flag(l, truncation(ip.lim, off, ICMPV6.MIN_SIZE, 'ICMPv6 header'));
  if (l.problem === undefined) {
    const t = b[off];
    if (t === ICMPV6.ECHO_REQUEST || t === ICMPV6.ECHO_REPLY)
      flag(l, truncation(ip.lim, off, ICMPV6.BODY + 4, 'ICMPv6 echo header'));
    l.info = { kind: 'icmpv6', type: t, code: b[off + ICMPV6.CODE], length: ip.payloadLen };
    if (ip.lim - off >= ICMPV6.BODY + 4) l.info.rest = readU32(b, off + ICMPV6.BODY);
    const nd = t === ICMPV6.NEIGHBOR_SOLICITATION || t === ICMPV6.NEIGHBOR_ADVERTISEMENT;
    if (nd && ip.lim - off >= ICMPV6.ND_TARGET + IPV6_ADDR_SIZE)
      l.info.target = ipv6ToString(b, off + ICMPV6.ND_TARGET);
  }
  if (!w.has(l, off, ICMPV6.MIN_SIZE, 'type, code, checksum')) return;
  const type = b[off];
  if (w.full) {
    w.field(l, off, 1, 'type', `${type} ${ICMPV6_TYPES[type] ?? '(unknown)'}`);
    w.field(l, off + ICMPV6.CODE, 1, 'code', String(b[off + ICMPV6.CODE]));
    const mlen = end - off;
    const complete = off + ip.payloadLen <= b.length && mlen === ip.payloadLen;
    const [cv, cs] = checksumValue(
      w.u16(off + ICMPV6.CHECKSUM),
      complete
        ? computeChecksum(b, off, mlen, off + ICMPV6.CHECKSUM, pseudoHeaderSum(w, ip, IP_PROTO_ICMPV6, mlen))
        : undefined,
      'message incomplete',
    );
    w.field(l, off + ICMPV6.CHECKSUM, 2, 'checksum', cv, cs ? { status: cs } : {});
  }
  const body = off + ICMPV6.BODY;
  const echo = type === ICMPV6.ECHO_REQUEST || type === ICMPV6.ECHO_REPLY;
  if (echo && w.has(l, body, 4, 'identifier and sequence')) {
    if (w.full) {
      w.field(l, body, 2, 'identifier', hex(w.u16(body), 4));
      w.field(l, body + 2, 2, 'sequence number', String(w.u16(body + 2)));
    }
    if (body + 4 < end) data(w, w.layer('Data', ip.role, '', body + 4), body + 4, end);
    return;
  }
  if (body < end) data(w, w.layer('Data', ip.role, '', body), body, end);
}

// ---- overlays --------------------------------------------------------------------------------

function vxlan(w: Walker, off: number, end: number, lim: number): void {
  const b = w.buf;
  const l = w.layer('VXLAN', 'outer', 'RFC 7348 §5', off);
  if (lim - off < VXLAN_HEADER_SIZE) {
    l.problem = `truncated VXLAN header: ${Math.max(0, lim - off)} of 8 bytes`;
  } else if (!vxlanHasVni(b, off)) {
    l.problem = `bad VXLAN flags ${hex(vxlanFlags(b, off), 2)}`;
  } else {
    l.info = {
      kind: 'vxlan',
      flags: vxlanFlags(b, off),
      vni: vxlanVni(b, off),
      reserved: vxlanReservedBitsSet(b, off),
    };
  }
  if (!w.has(l, off, 1, 'flags')) return;
  if (w.full) vxlanFlagsField(w, l, off);
  if (!w.has(l, off + VXLAN_OFF_RESERVED1, 3, 'reserved')) return;
  if (w.full) {
    const r1 = (b[off + VXLAN_OFF_RESERVED1] << 16) | w.u16(off + VXLAN_OFF_RESERVED1 + 1);
    w.field(
      l,
      off + VXLAN_OFF_RESERVED1,
      3,
      'reserved',
      `${hex(r1, 6)}${r1 ? ' (must be 0 on send, ignored on receipt)' : ''}`,
      r1 ? { status: 'warn' } : {},
    );
  }
  if (!w.has(l, off + VXLAN_OFF_VNI, 3, 'VNI')) return;
  const vni = vxlanVni(b, off);
  if (w.full) w.field(l, off + VXLAN_OFF_VNI, 3, 'VNI', `${vni} (${hex(vni, 6)})`, { ref: 'RFC 7348 §5' });
  if (!w.has(l, off + VXLAN_OFF_RESERVED2, 1, 'reserved')) return;
  const inner = off + VXLAN_HEADER_SIZE;
  if (w.full) {
    const r2 = b[off + VXLAN_OFF_RESERVED2];
    w.field(
      l,
      off + VXLAN_OFF_RESERVED2,
      1,
      'reserved',
      `${hex(r2, 2)}${r2 ? ' (must be 0 on send, ignored on receipt)' : ''}`,
      r2 ? { status: 'warn' } : {},
    );
    const innerEnd = Math.min(end, b.length);
    w.overlay = {
      kind: 'vxlan',
      vni,
      outer: [],
      innerOffset: inner,
      innerLength: Math.max(0, innerEnd - inner),
      innerIpLength: Math.max(0, innerEnd - inner - ETH_HEADER_SIZE),
    };
  }
  if (inner >= b.length) {
    w.note(l, 'bad', 'No inner Ethernet frame follows the VXLAN header.');
    flag(l, innerEthernetTruncation(lim, inner));
    return;
  }
  ethernet(w, inner, lim, 'inner', false);
}

/** vxlanFlagsField records the VXLAN flags row with its I bit and reserved bits, and their notes. */
function vxlanFlagsField(w: Walker, l: ExplainLayer, off: number): void {
  const flags = vxlanFlags(w.buf, off);
  const iSet = (flags & VXLAN_FLAG_I) !== 0;
  const rsv = flags & ~VXLAN_FLAG_I & 0xff;
  w.field(l, off, 1, 'flags', `${hex(flags, 2)}${iSet ? ' I' : ''}${rsv ? ', reserved bits set' : ''}`, {
    status: iSet ? (rsv ? 'warn' : 'ok') : 'bad',
    bits: [
      bits(flags, 0xf0, 8, 'reserved (R)', String(flags >>> 4), flags & 0xf0 ? 'warn' : undefined),
      bits(flags, 0x08, 8, 'I (VNI valid)', iSet ? '1 set' : '0 CLEAR: must be 1', iSet ? 'ok' : 'bad'),
      bits(flags, 0x07, 8, 'reserved (R)', String(flags & 7), flags & 7 ? 'warn' : undefined),
    ],
  });
  if (!iSet)
    w.note(
      l,
      'bad',
      'RFC 7348 §5: the I flag MUST be set for a valid VNI; weft drops this frame (bad_vxlan_flags).',
    );
  if (rsv) {
    w.note(
      l,
      'warn',
      'Reserved flag bits are set: RFC 7348 §5 says ignore them on receipt (GBP/GPE use them); weft accepts and counts an anomaly.',
    );
  }
}

function flannelUdp(w: Walker, off: number, end: number, lim: number): void {
  const l = w.layer('flannel-UDP', 'outer', 'flannel udp backend', off);
  if (w.full) {
    w.note(
      l,
      'info',
      'No overlay header: the UDP payload is the inner IP packet itself (flannel backend "udp", port 8285).',
    );
    const innerEnd = Math.min(end, w.buf.length);
    w.overlay = {
      kind: 'udp',
      outer: [],
      innerOffset: off,
      innerLength: Math.max(0, innerEnd - off),
      innerIpLength: Math.max(0, innerEnd - off),
    };
  }
  if (off >= w.buf.length) {
    w.note(l, 'bad', 'The UDP payload is empty: no inner packet.');
    flag(l, truncation(lim, off, 1, 'IP header'));
    return;
  }
  ipAny(w, off, lim, 'inner', false);
}

/** data records a payload row on `l` (a `Data` layer the caller created, in both details). */
function data(w: Walker, l: ExplainLayer, off: number, end: number): void {
  if (!w.full) return;
  const n = Math.max(0, Math.min(end, w.buf.length) - off);
  const text = printable(w.buf, off, n);
  w.field(l, off, n, 'data', `${n} bytes${text ? '  ' + text : ''}`);
}

// ---- summary ---------------------------------------------------------------------------------

function summarize(ex: Explanation): string[] {
  const out: string[] = [];
  const parts = ex.layers
    .filter((l) => l.length > 0)
    .map(
      (l) => `${l.role === 'inner' ? 'inner ' : l.role === 'quoted' ? 'quoted ' : ''}${l.name} ${l.length}`,
    );
  if (parts.length) out.push(`layers: ${parts.join(' + ')} = ${ex.length} bytes`);
  const ov = ex.overlay;
  if (ov) {
    const outerLen = ov.outer.reduce((s, [, n]) => s + n, 0);
    const list = ov.outer.map(([n, len]) => `${len} ${n}`).join(' + ');
    out.push(`outer headers ${outerLen} bytes: ${list}`);
    if (ov.kind === 'vxlan') {
      out.push(
        `inner frame ${ov.innerLength} bytes: 14 Ethernet + ${ov.innerIpLength} IP packet (VNI ${ov.vni})`,
      );
      const ipOverhead = outerLen - (ov.outer[0]?.[0] === 'Ethernet' ? ov.outer[0][1] : 0) + 14;
      out.push(
        `an inner IP packet costs ${ipOverhead} extra bytes on the underlay IP path: a 1500-byte underlay MTU leaves ${1500 - ipOverhead} for the overlay (flannel.1's MTU)`,
      );
    } else {
      out.push(`inner IP packet ${ov.innerLength} bytes (carried as the whole UDP payload)`);
      const ipOverhead = outerLen - (ov.outer[0]?.[0] === 'Ethernet' ? ov.outer[0][1] : 0);
      out.push(
        `an inner IP packet costs ${ipOverhead} extra bytes on the underlay IP path: a 1500-byte underlay MTU leaves ${1500 - ipOverhead} for the overlay (flannel0's MTU)`,
      );
    }
    if (ex.length > 0) {
      out.push(
        `overhead: ${outerLen} of ${ex.length} bytes on the wire are encapsulation (${((100 * outerLen) / ex.length).toFixed(1)} %)`,
      );
    }
  } else if (ex.layers.some((l) => l.name === 'UDP' && l.role !== 'quoted')) {
    out.push(
      'no overlay: the UDP destination port is not a VXLAN or flannel-UDP port (use --port N to choose one)',
    );
  }
  const bad = ex.layers.reduce(
    (s, l) =>
      s + l.notes.filter((n) => n.level === 'bad').length + l.fields.filter((f) => f.status === 'bad').length,
    0,
  );
  if (bad) out.push(`problems: ${bad} (marked above)`);
  return out;
}

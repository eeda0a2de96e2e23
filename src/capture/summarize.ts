/**
 * summarize: one captured underlay frame → one readable line, outer and inner layers together.
 *
 * The frame is decoded once by the shared decoder (src/explain/decode.ts, the same pass behind
 * `weft explain` and `weft capture --explain`); this file only renders the decoded layers as a
 * tcpdump-style line. Protocol parsing, overlay detection by port and malformed-frame verdicts
 * (`problem` on a layer) all come from the decoder; see src/explain/model.ts for what each layer
 * carries. The line reads only each layer's `info` and `problem`, so it asks for a `summary`
 * decode (no field rows, notes or checksums; bench/capture.ts measures both) unless the caller
 * also wants the byte view (`explain`), in which case the one full decode serves both.
 *
 * Design notes: a capture must survive whatever arrives on the wire, so a problem becomes a
 * `[malformed: ...]` tag in the line instead of an exception. Where the tag goes follows the
 * encapsulation: a broken link, outer IP or outer UDP header makes the whole frame malformed; a
 * broken overlay header or inner network header makes the overlay part malformed; a broken inner
 * transport header is tagged after the inner addresses.
 */
import {
  DEFAULT_PORTS,
  LinkType,
  decodeFrame,
  type ExplainOptions,
  type OverlayKind,
} from '../explain/decode';
import type {
  ArpInfo,
  DecodeDetail,
  ExplainLayer,
  Explanation,
  IcmpInfo,
  Icmpv6Info,
  Ipv4Info,
  Ipv6Info,
  LayerInfo,
  LinkInfo,
  VxlanInfo,
} from '../explain/model';
import { ARP_HTYPE_ETHERNET, ARP_OP_REPLY, ARP_OP_REQUEST, ARP_PTYPE_IPV4 } from '../wire/arp';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethernet';
import { IP_PROTO_TCP, IP_PROTO_UDP } from '../wire/ipv4';
import { VXLAN_HEADER_SIZE } from '../wire/vxlan';
import { TCP } from '../explain/extra-headers';
import { ICMPV6_TYPES } from '../explain/names';
import type { ChecksumState } from '../wire/checksum-state';
import type { TcpSeqTracker } from './tcp-seq';

export { DEFAULT_PORTS, LinkType };
export type { OverlayKind };

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
  /**
   * Also record the byte-by-byte view in `explanation`, for `--explain` to render without decoding
   * again. Default false: only what the line needs is decoded.
   */
  explain?: boolean;
  /** Print TCP sequence numbers relative to each connection's start, as tcpdump does. Default absolute. */
  tcpSeq?: TcpSeqTracker;
  /**
   * IPv4 addresses (host-order u32) of the capturing host: a wrong outer checksum from one of them is
   * "bad, probably offload". The set may grow between calls (senders of partial checksums).
   */
  localAddresses?: ReadonlySet<number>;
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
  /** The outer UDP checksum state of an overlay frame over IPv4, and its outer source address. */
  outerChecksum?: ChecksumState;
  outerSrc?: string;
  /**
   * The decoded frame the line was rendered from: a `summary` decode, or a `full` one when
   * `explain` was set (pass it on to `explainCaptured`, which renders a full one as is).
   */
  explanation?: Explanation;
}

/**
 * captureDecodeOptions are the decoder options of `weft capture`, shared by the summary line and
 * `--explain` so both decode a frame the same way: overlay ports match either UDP port, because
 * the capture filter `udp port N` does. `detail` defaults to `full` (the byte view).
 */
export function captureDecodeOptions(
  linkType: number,
  ports: ReadonlyMap<number, OverlayKind>,
  detail: DecodeDetail = 'full',
  localAddresses?: ReadonlySet<number>,
): ExplainOptions {
  const o: ExplainOptions = { link: linkType, ports, matchSourcePort: true, detail };
  if (localAddresses) o.localAddresses = localAddresses;
  return o;
}

// The last options built: a capture asks with the same link type and ports for every frame.
let lastOptions = captureDecodeOptions(LinkType.ethernet, DEFAULT_PORTS, 'summary');

function decodeOptions(
  linkType: number,
  ports: ReadonlyMap<number, OverlayKind>,
  detail: DecodeDetail,
  local: ReadonlySet<number> | undefined,
): ExplainOptions {
  const o = lastOptions;
  if (o.link === linkType && o.ports === ports && o.detail === detail && o.localAddresses === local) return o;
  lastOptions = captureDecodeOptions(linkType, ports, detail, local);
  return lastOptions;
}

/** formatTimestamp renders microseconds since the epoch as local `HH:MM:SS.uuuuuu` (tcpdump style). */
export function formatTimestamp(micros: number): string {
  const d = new Date(Math.floor(micros / 1000));
  const us = Math.floor(micros % 1_000_000);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.${String(us).padStart(6, '0')}`;
}

/**
 * summarizeFrame decodes one captured frame into a one-line summary with outer and inner layers,
 * e.g. `192.0.2.1:49321 > 192.0.2.2:8472 VXLAN vni 1 | 0e:..:01 > 0e:..:02 | 10.244.0.1 > 10.244.1.1
 * ICMP echo request id 4 seq 1 len 84`. It never throws: problems become `[malformed: ...]` tags.
 */
export function summarizeFrame(frame: Uint8Array, opts: SummarizeOptions = {}): FrameSummary {
  let trunc = '';
  if (opts.wireLength !== undefined && opts.wireLength > frame.length)
    trunc = ` [snaplen: ${frame.length} of ${opts.wireLength} bytes]`;
  try {
    const ex = decodeFrame(
      frame,
      decodeOptions(
        opts.linkType ?? LinkType.ethernet,
        opts.ports ?? DEFAULT_PORTS,
        opts.explain ? 'full' : 'summary',
        opts.localAddresses,
      ),
    );
    const s = summarizeExplanation(ex, opts.vni, opts.tcpSeq);
    s.text += trunc;
    s.explanation = ex;
    return s;
  } catch (e) {
    // The decoder promises not to throw on frame content; if it ever does, keep capturing.
    return {
      kind: 'malformed',
      text: `[malformed: decoder error: ${String(e)}] ${frame.length} bytes${trunc}`,
    };
  }
}

/**
 * checksumSummary words the outer checksum states counted over a capture for its closing line,
 * e.g. `, outer udp cksum: 20 partial (offload), 3 bad`; empty when every checksum was valid or absent.
 */
export function checksumSummary(counts: Partial<Record<ChecksumState, number>>): string {
  const words: Array<[ChecksumState, string]> = [
    ['partial', 'partial (offload)'],
    ['offload', 'bad, probably offload'],
    ['bad', 'bad'],
  ];
  const parts = words.filter(([k]) => (counts[k] ?? 0) > 0).map(([k, w]) => `${counts[k]} ${w}`);
  return parts.length ? `, outer udp cksum: ${parts.join(', ')}` : '';
}

/** formatCaptureLine prefixes a summary with its timestamp, as `weft capture` prints it. */
export function formatCaptureLine(micros: number, s: FrameSummary): string {
  return `${formatTimestamp(micros)} ${s.text}`;
}

// ---- rendering the decoded layers ------------------------------------------------------------

const OUTER_FRAGMENT = 'the underlay MTU is smaller than overlay MTU + overhead';

function is<K extends LayerInfo['kind']>(
  l: ExplainLayer | undefined,
  kind: K,
): Extract<LayerInfo, { kind: K }> | undefined {
  const info = l?.info;
  return info?.kind === kind ? (info as Extract<LayerInfo, { kind: K }>) : undefined;
}

function hex4(n: number): string {
  return `0x${n.toString(16).padStart(4, '0')}`;
}

/** CHECKSUM_TAGS are the line's tags for an overlay frame's outer UDP checksum that is not valid. */
const CHECKSUM_TAGS: Partial<Record<ChecksumState, string>> = {
  partial: ' [udp cksum partial: offload, not filled in when captured]',
  offload: ' [bad udp cksum, probably offload]',
  bad: ' [bad udp cksum]',
};

/**
 * summarizeExplanation renders a decoded underlay frame as one summary line (no timestamp); with
 * `seq`, TCP sequence numbers are relative to each connection's start.
 */
export function summarizeExplanation(ex: Explanation, vni?: number, seq?: TcpSeqTracker): FrameSummary {
  tracker = seq;
  const L = ex.layers;
  // The link layer (absent for raw IP captures), then the underlay IP header.
  if (L[0]?.problem !== undefined) return malformedFrame(L[0].problem, ex.length);
  let k = 0;
  const link = is(L[0], 'link');
  if (link) {
    k = 1;
    if (link.etherType !== ETHERTYPE_IPV4 && link.etherType !== ETHERTYPE_IPV6) {
      const p = payloadProblem(link.etherType, L[1]);
      const text = p !== undefined ? `[malformed: ${p}]` : etherPayload(L, 1, link);
      return { kind: 'not-overlay', text: `[not overlay] ${text}` };
    }
  }
  const ipl = L[k];
  const ip = is(ipl, 'ipv4') ?? is(ipl, 'ipv6');
  if (!ip || ipl?.problem !== undefined) return malformedFrame(ipl?.problem, ex.length);
  let notes = '';
  let fragmented = false;
  if (ip.kind === 'ipv4' && ip.fragOffset !== 0) {
    return {
      kind: 'fragment',
      text: `${ip.src} > ${ip.dst} [outer IP fragment id ${ip.id} off ${ip.fragOffset}${ip.mf ? '+' : ''} len ${ip.total}: ${OUTER_FRAGMENT}]`,
    };
  }
  if (ip.kind === 'ipv4' && ip.mf) {
    fragmented = true;
    notes += ` [outer IP fragmented: id ${ip.id}, ${OUTER_FRAGMENT}]`;
  }
  if (ip.total > ip.present) notes += ` [truncated: ${ip.present} of ${ip.total} bytes captured]`;
  const ext = ip.kind === 'ipv6' ? ip.exts : 0;
  const ul = L[k + 1 + ext];
  const udp = is(ul, 'udp');
  if (ip.protocol !== IP_PROTO_UDP || (ip.kind === 'ipv6' && (ip.extProblem || ip.fragment)) || !ul) {
    return { kind: 'not-overlay', text: `[not overlay] ${describeIp(L, k)}` };
  }
  if (!udp || ul.problem !== undefined) return malformedFrame(ul.problem, ex.length);
  const src = ip.kind === 'ipv6' ? `[${ip.src}]` : ip.src;
  const dst = ip.kind === 'ipv6' ? `[${ip.dst}]` : ip.dst;
  const head = `${src}:${udp.sport} > ${dst}:${udp.dport}`;
  if (udp.checksum !== undefined) notes = (CHECKSUM_TAGS[udp.checksum] ?? '') + notes;
  if (udp.overlay === undefined) {
    return { kind: 'not-overlay', text: `[not overlay] ${head} UDP len ${udp.end - udp.payload}${notes}` };
  }
  const o = k + 2 + ext;
  let res: FrameSummary;
  if (udp.overlay === 'vxlan') {
    const r = describeVxlan(L, o, vni);
    res = {
      kind: r.malformed ? 'malformed' : 'vxlan',
      text: `${head} ${fragmented ? inFragment(r.text) : r.text}${notes}`,
      innerOffset: udp.payload + VXLAN_HEADER_SIZE,
    };
    if (r.vni !== undefined) res.vni = r.vni;
  } else {
    const p = L[o]?.problem ?? L[o + 1]?.problem;
    const fu = p !== undefined ? `flannel-UDP [malformed: ${p}]` : `flannel-UDP | ${describeIp(L, o + 1)}`;
    res = {
      kind: p !== undefined ? 'malformed' : 'flannel-udp',
      text: `${head} ${fragmented ? inFragment(fu) : fu}${notes}`,
      innerOffset: udp.payload,
    };
  }
  if (res.kind !== 'malformed')
    res.text += gsoTrainTag(L, o + (udp.overlay === 'vxlan' ? 2 : 1), udp.payload, udp.end);
  if (udp.checksum !== undefined) {
    res.outerChecksum = udp.checksum;
    res.outerSrc = ip.src;
  }
  return res;
}

/**
 * gsoTrainTag names a UDP GSO train captured whole (veth, a NIC with UDP segmentation offload):
 * one datagram whose payload [payload, end) holds several overlay frames back to back, every one
 * the size of the first (inner IP header at L[innerIp]), the last 1..that. The decoder shows the
 * first; the tag says how many go on the wire. Empty for an ordinary datagram.
 */
function gsoTrainTag(L: ExplainLayer[], innerIp: number, payload: number, end: number): string {
  const l = L[innerIp];
  const ip = is(l, 'ipv4') ?? is(l, 'ipv6');
  if (!l || !ip) return '';
  const size = l.offset - payload + ip.total;
  if (size <= 0 || end - payload <= size) return '';
  return ` [GSO train: ${Math.ceil((end - payload) / size)} datagrams of ${size} bytes, first shown]`;
}

// The tracker of the line being rendered (set by summarizeExplanation; rendering is synchronous).
let tracker: TcpSeqTracker | undefined;

function malformedFrame(p: string | undefined, length: number): FrameSummary {
  return { kind: 'malformed', text: `[malformed: ${p ?? 'nothing decoded'}] ${length} bytes` };
}

/** In a first outer fragment the inner packet is cut by the fragmentation, not by the capture. */
function inFragment(t: string): string {
  return t.replace(/\[truncated: (\d+) of (\d+) bytes captured\]/, '[$1 of $2 bytes in this fragment]');
}

/** Renders a VXLAN header and its inner frame (RFC 7348 §5) as "VXLAN vni N | macs | inner". */
function describeVxlan(
  L: ExplainLayer[],
  i: number,
  expectVni: number | undefined,
): { text: string; vni?: number; malformed: boolean } {
  const v: VxlanInfo | undefined = is(L[i], 'vxlan');
  if (!v) return { text: `VXLAN [malformed: ${L[i]?.problem ?? 'no VXLAN header'}]`, malformed: true };
  const vni = v.vni;
  let text = `VXLAN vni ${vni}`;
  if (v.rco !== undefined) text += ` RCO start ${v.rco.start} ${v.rco.offset === 6 ? 'udp' : 'tcp'}`;
  // RFC 7348 says ignore reserved bits on receive; Linux drops such frames, so point them out.
  if (v.reserved)
    text += ` [reserved bits set: flags 0x${v.flags.toString(16).padStart(2, '0')}; Linux drops this frame]`;
  if (expectVni !== undefined && expectVni !== vni) text += ` [vni mismatch: expected ${expectVni}]`;
  const eth = is(L[i + 1], 'link');
  const ep = L[i].problem ?? L[i + 1]?.problem;
  if (ep !== undefined || !eth) return { text: `${text} [malformed: ${ep}]`, vni, malformed: true };
  const vlan = eth.vlan !== undefined ? ` vlan ${eth.vlan} [inner VLAN tag: RFC 7348 §6.1 says discard]` : '';
  text += ` | ${eth.src} > ${eth.dst}${vlan} | `;
  const p = payloadProblem(eth.etherType, L[i + 2]);
  if (p !== undefined) return { text: `${text}[malformed: ${p}]`, vni, malformed: true };
  return { text: text + etherPayload(L, i + 2, eth), vni, malformed: false };
}

/** The problem that stops the network header an EtherType announces, if any. */
function payloadProblem(type: number, l: ExplainLayer | undefined): string | undefined {
  if (type !== ETHERTYPE_IPV4 && type !== ETHERTYPE_IPV6 && type !== ETHERTYPE_ARP) return undefined;
  return l ? l.problem : 'nothing decoded';
}

/** Renders an Ethernet (or Linux cooked) payload whose header is known to be sound. */
function etherPayload(L: ExplainLayer[], i: number, link: LinkInfo): string {
  const type = link.etherType;
  if (type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6) return describeIp(L, i);
  const arp = is(L[i], 'arp');
  if (type === ETHERTYPE_ARP && arp) return describeArp(arp);
  return `ethertype ${hex4(type)} len ${link.end - link.payload}`;
}

function describeArp(a: ArpInfo): string {
  if (a.htype !== ARP_HTYPE_ETHERNET || a.ptype !== ARP_PTYPE_IPV4 || a.hlen !== 6 || a.plen !== 4)
    return `ARP htype ${a.htype} ptype ${hex4(a.ptype)} op ${a.op}`;
  if (a.op === ARP_OP_REQUEST) return `ARP who-has ${a.tpa} tell ${a.spa}`;
  if (a.op === ARP_OP_REPLY) return `ARP reply ${a.spa} is-at ${a.sha}`;
  return `ARP op ${a.op} ${a.spa} > ${a.tpa}`;
}

/** Renders an IP packet whose header is known to be sound (no `problem` on L[i]). */
function describeIp(L: ExplainLayer[], i: number): string {
  const v4 = is(L[i], 'ipv4');
  if (v4) return describeIpv4(L, i, v4);
  const v6 = is(L[i], 'ipv6');
  return v6 ? describeIpv6(L, i, v6) : `[malformed: ${L[i]?.problem ?? 'no IP header'}]`;
}

function describeIpv4(L: ExplainLayer[], i: number, ip: Ipv4Info): string {
  const { src, dst, total, present, id, protocol: proto } = ip;
  // TCP and UDP print their payload length, ICMP its message length (as tcpdump); others the IP total length.
  let tail = proto === IP_PROTO_TCP || proto === IP_PROTO_UDP || is(L[i + 1], 'icmp') ? '' : ` len ${total}`;
  if (total > present) tail += ` [truncated: ${present} of ${total} bytes captured]`;
  if (ip.fragOffset !== 0)
    return `${src} > ${dst} IP fragment id ${id} off ${ip.fragOffset}${ip.mf ? '+' : ''} proto ${proto} len ${total}`;
  if (ip.mf) tail += ` [fragment id ${id} off 0+]`;
  const t = L[i + 1];
  if (t?.problem !== undefined)
    return `${src} > ${dst} proto ${proto} len ${total} [malformed: ${t.problem}]`;
  return describeL4(proto, t, src, dst, false) + tail;
}

function describeIpv6(L: ExplainLayer[], i: number, ip: Ipv6Info): string {
  const { src, dst, total, present, protocol: next } = ip;
  const tail = total > present ? ` [truncated: ${present} of ${total} bytes captured]` : '';
  const bad = (p: string, nh: number): string =>
    `${src} > ${dst} IP6 next ${nh} len ${total}${tail} [malformed: ${p}]`;
  if (ip.extProblem !== undefined) return bad(ip.extProblem, ip.extProblemNext ?? next);
  if (ip.fragment)
    return `${src} > ${dst} IP6 fragment off ${ip.fragment.offset} proto ${ip.fragment.protocol} len ${total}${tail}`;
  const t = L[i + 1 + ip.exts];
  if (t?.problem !== undefined) return bad(t.problem, next);
  const lenTag = next === IP_PROTO_TCP || next === IP_PROTO_UDP || is(t, 'icmpv6') ? '' : ` len ${total}`;
  return describeL4(next, t, src, dst, true) + lenTag + tail;
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

// The line says 'unreachable' where the field view says 'destination unreachable'.
const ICMP6_TYPES: Record<number, string> = { ...ICMPV6_TYPES, 1: 'unreachable' };

/** tcpFlags renders TCP control bits the way tcpdump does: `[S.]` is SYN+ACK. */
function tcpFlags(f: number): string {
  let s = '';
  if (f & 0x02) s += 'S';
  if (f & 0x01) s += 'F';
  if (f & 0x04) s += 'R';
  if (f & 0x08) s += 'P';
  if (f & 0x20) s += 'U';
  if (f & 0x40) s += 'E';
  if (f & 0x80) s += 'W';
  if (f & TCP.FLAG_ACK) s += '.';
  return `[${s || 'none'}]`;
}

/** Renders the transport layer `t` of an IP packet from `src` to `dst` carrying `proto`. */
function describeL4(
  proto: number,
  t: ExplainLayer | undefined,
  src: string,
  dst: string,
  v6: boolean,
): string {
  const join = (a: string, p: number): string => (v6 ? `[${a}]:${p}` : `${a}:${p}`);
  const tcp = is(t, 'tcp');
  if (tcp) {
    const a = join(src, tcp.sport);
    const b = join(dst, tcp.dport);
    const ackFlag = (tcp.flags & TCP.FLAG_ACK) !== 0;
    const r = tracker
      ? tracker.relative(a, b, tcp.seq, tcp.ack, (tcp.flags & 0x02) !== 0, ackFlag)
      : { seq: tcp.seq, ack: tcp.ack };
    let s = `${a} > ${b} TCP ${tcpFlags(tcp.flags)} seq ${r.seq}`;
    if (tcp.payloadLength > 0) s += `:${(r.seq + tcp.payloadLength) >>> 0}`;
    if (ackFlag) s += ` ack ${r.ack}`;
    s += ` win ${tcp.window}`;
    if (tcp.options !== undefined) s += ` options [${tcp.options}]`;
    return `${s} len ${tcp.payloadLength}`;
  }
  const udp = is(t, 'udp');
  if (udp) {
    const seg = udp.segment;
    const tag =
      udp.length < 8 || udp.length > seg ? ` [malformed: UDP length ${udp.length}, segment ${seg}]` : '';
    return `${join(src, udp.sport)} > ${join(dst, udp.dport)} UDP len ${Math.max(0, Math.min(udp.length, seg) - 8)}${tag}`;
  }
  const icmp = is(t, 'icmp');
  if (icmp) return `${src} > ${dst} ICMP ${describeIcmp(icmp)} len ${icmp.length}`;
  const icmp6 = is(t, 'icmpv6');
  if (icmp6) return `${src} > ${dst} ICMP6 ${describeIcmp6(icmp6)} len ${icmp6.length}`;
  return `${src} > ${dst} proto ${proto}`;
}

function describeIcmp(m: IcmpInfo): string {
  const { type, code } = m;
  let s = ICMP_TYPES[type] ?? `type ${type}`;
  const rest = m.rest ?? 0;
  if (type === 0 || type === 8 || type === 13 || type === 14) {
    s += ` id ${rest >>> 16} seq ${rest & 0xffff}`;
  } else if (type === 3) {
    s += ` ${ICMP_UNREACH[code] ?? `code ${code}`}`;
    if (code === 4 && m.rest !== undefined) s += ` mtu ${rest & 0xffff}`;
  } else if (type === 11) {
    s += code === 0 ? ' ttl exceeded in transit' : ' fragment reassembly time exceeded';
  } else {
    s += ` code ${code}`;
  }
  return s;
}

function describeIcmp6(m: Icmpv6Info): string {
  const { type } = m;
  let s = ICMP6_TYPES[type] ?? `type ${type}`;
  const rest = m.rest ?? 0;
  if (type === 128 || type === 129) s += ` id ${rest >>> 16} seq ${rest & 0xffff}`;
  else if (type === 2 && m.rest !== undefined) s += ` mtu ${rest}`;
  else if (m.target !== undefined) s += ` ${m.target}`;
  return s;
}

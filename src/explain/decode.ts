/**
 * Annotated frame decoder behind `weft explain`: walks a frame layer by layer and records every
 * header field with its offset, bytes, decoded value and defining document.
 *
 * Layers and references:
 *   Ethernet II        IEEE 802.3 §3.2 (Ethernet II framing per RFC 894), 802.1Q tag per IEEE 802.1Q §9.6
 *   Linux cooked (SLL) https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html
 *   ARP                RFC 826
 *   IPv4               RFC 791 §3.1 (DSCP RFC 2474, ECN RFC 3168)
 *   IPv6               RFC 8200 §3
 *   UDP                RFC 768
 *   VXLAN              RFC 7348 §5
 *   flannel-UDP        no header: the UDP payload is the inner IP packet (flannel udp backend)
 *   ICMP               RFC 792 (next-hop MTU: RFC 1191 §4)
 *   ICMPv6             RFC 4443 §2.1
 *   TCP                RFC 9293 §3.1 (options: MSS RFC 9293 §3.2, WS/TS RFC 7323, SACK RFC 2018)
 *
 * Design notes: this is a control path that must survive any input (hex typed by hand, a corrupt
 * capture): every read is bounds-checked through `Walker.has`, a short frame ends the walk with a
 * `bad` note naming the field that did not fit, and nothing here throws on frame content.
 */
import { DEFAULT_FLANNEL_UDP_PORT, DEFAULT_VXLAN_PORT } from '../encap/constants';
import { bufferToMac, ipv6ToString } from '../route/addr';
import { checksumAdd, checksumFinish } from '../wire/checksum';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN } from '../wire/ethernet';
import { IP_PROTO_ICMP, IP_PROTO_ICMPV6, IP_PROTO_TCP, IP_PROTO_UDP } from '../wire/ipv4';
import { VXLAN_FLAG_I, VXLAN_IANA_PORT } from '../wire/vxlan';
import type {
  ExplainBits,
  ExplainField,
  ExplainLayer,
  Explanation,
  LayerRole,
  OverlayInfo,
  Status,
} from './model';

/** DEFAULT_VXLAN_PORTS are the UDP destination ports decoded as VXLAN: Linux/flannel's 8472 and IANA's 4789. */
export const DEFAULT_VXLAN_PORTS: readonly number[] = [DEFAULT_VXLAN_PORT, VXLAN_IANA_PORT];
/** DEFAULT_FLANNEL_UDP_PORTS are the UDP destination ports decoded as flannel-UDP. */
export const DEFAULT_FLANNEL_UDP_PORTS: readonly number[] = [DEFAULT_FLANNEL_UDP_PORT];

/** ExplainLink is what the frame's first byte is: an Ethernet header, an IP header or a pcap link type. */
export type ExplainLink = 'eth' | 'ip' | number;

/** ExplainOptions tune the decoder. */
export interface ExplainOptions {
  /** First header: `eth` (default), `ip` (raw IPv4/IPv6) or a pcap LINKTYPE_* number. */
  link?: ExplainLink;
  /** UDP destination ports to decode as VXLAN; default DEFAULT_VXLAN_PORTS. */
  vxlanPorts?: readonly number[];
  /** UDP destination ports to decode as flannel-UDP; default DEFAULT_FLANNEL_UDP_PORTS. */
  udpPorts?: readonly number[];
}

const SERVICE_PORTS: Record<number, string> = {
  53: 'DNS',
  67: 'DHCP server',
  68: 'DHCP client',
  123: 'NTP',
  2379: 'etcd client',
  4789: 'VXLAN, IANA port',
  8285: 'flannel-UDP',
  8472: 'VXLAN, Linux/flannel default',
};

const ETHERTYPES: Record<number, string> = {
  [ETHERTYPE_IPV4]: 'IPv4',
  [ETHERTYPE_ARP]: 'ARP',
  [ETHERTYPE_VLAN]: '802.1Q VLAN tag',
  [ETHERTYPE_IPV6]: 'IPv6',
  0x88cc: 'LLDP',
};

const IP_PROTOCOLS: Record<number, string> = {
  0: 'IPv6 hop-by-hop options',
  [IP_PROTO_ICMP]: 'ICMP',
  2: 'IGMP',
  4: 'IPv4-in-IPv4',
  [IP_PROTO_TCP]: 'TCP',
  [IP_PROTO_UDP]: 'UDP',
  41: 'IPv6-in-IPv4',
  43: 'IPv6 routing header',
  44: 'IPv6 fragment header',
  47: 'GRE',
  50: 'ESP',
  51: 'AH',
  [IP_PROTO_ICMPV6]: 'ICMPv6',
  59: 'no next header',
  60: 'IPv6 destination options',
  132: 'SCTP',
};

const ICMP_TYPES: Record<number, string> = {
  0: 'echo reply',
  3: 'destination unreachable',
  4: 'source quench (deprecated)',
  5: 'redirect',
  8: 'echo request',
  11: 'time exceeded',
  12: 'parameter problem',
  13: 'timestamp',
  14: 'timestamp reply',
};

const ICMP_UNREACH_CODES: Record<number, string> = {
  0: 'net unreachable',
  1: 'host unreachable',
  2: 'protocol unreachable',
  3: 'port unreachable',
  4: 'fragmentation needed and DF set',
  5: 'source route failed',
  9: 'network administratively prohibited',
  10: 'host administratively prohibited',
  13: 'communication administratively prohibited',
};

const ICMPV6_TYPES: Record<number, string> = {
  1: 'destination unreachable',
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

const DSCP_NAMES: Record<number, string> = {
  0: 'CS0, best effort',
  8: 'CS1',
  10: 'AF11',
  16: 'CS2',
  18: 'AF21',
  24: 'CS3',
  26: 'AF31',
  32: 'CS4',
  34: 'AF41',
  40: 'CS5',
  46: 'EF, expedited forwarding',
  48: 'CS6, network control',
  56: 'CS7',
};

function dscpName(d: number): string {
  const n = DSCP_NAMES[d];
  return n ? `${d} (${n})` : String(d);
}

const ECN_NAMES = ['Not-ECT', 'ECT(1)', 'ECT(0)', 'CE (congestion experienced)'];

/** The IP context a transport header needs for its pseudo-header checksum. */
interface IpContext {
  version: 4 | 6;
  /** Offset of the IP header (for the addresses). */
  ipOff: number;
  /** Transport length claimed by the IP header (payload of IP). */
  payloadLen: number;
  /** Role of the IP layer; transports inherit it. */
  role: LayerRole;
  /** True inside an ICMP error: only the first bytes are present, checksums are not checked. */
  quoted: boolean;
}

/** Walker carries the frame, the layers found so far and the overlay discovery. */
class Walker {
  readonly layers: ExplainLayer[] = [];
  overlay: OverlayInfo | undefined;
  stopped = false;
  constructor(
    readonly buf: Uint8Array,
    readonly vxlanPorts: readonly number[],
    readonly udpPorts: readonly number[],
  ) {}

  layer(name: string, role: LayerRole, ref: string, offset: number): ExplainLayer {
    const l: ExplainLayer = { name, role, ref, offset, length: 0, fields: [], notes: [] };
    this.layers.push(l);
    return l;
  }

  /** has reports whether buf[off..off+len) exists; if not, notes the truncation and stops the walk. */
  has(l: ExplainLayer, off: number, len: number, what: string): boolean {
    if (off + len <= this.buf.length) return true;
    const left = Math.max(0, this.buf.length - off);
    l.notes.push({
      level: 'bad',
      text: `Truncated: ${what} needs bytes ${off}-${off + len - 1} but the frame ends at byte ${this.buf.length - 1} (${left} of ${len} bytes present).`,
    });
    this.stopped = true;
    return false;
  }

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

  u8(off: number): number {
    return this.buf[off];
  }
  u16(off: number): number {
    return (this.buf[off] << 8) | this.buf[off + 1];
  }
  u32(off: number): number {
    return (
      ((this.buf[off] << 24) | (this.buf[off + 1] << 16) | (this.buf[off + 2] << 8) | this.buf[off + 3]) >>> 0
    );
  }
}

/** decodeFrame walks `buf` and returns every layer it understood; never throws on frame content. */
export function decodeFrame(buf: Uint8Array, opts: ExplainOptions = {}): Explanation {
  const w = new Walker(
    buf,
    opts.vxlanPorts ?? DEFAULT_VXLAN_PORTS,
    opts.udpPorts ?? DEFAULT_FLANNEL_UDP_PORTS,
  );
  const link = opts.link ?? 'eth';
  let linkName: string;
  if (link === 'eth' || link === 1) {
    linkName = 'Ethernet';
    ethernet(w, 0, 'outer');
  } else if (link === 'ip' || link === 101 || link === 228 || link === 229) {
    linkName = 'raw IP';
    ipAny(w, 0, 'outer', false);
  } else if (link === 113) {
    linkName = 'Linux cooked (SLL)';
    sll(w, 0);
  } else {
    linkName = `link type ${link}`;
    const l = w.layer('Data', 'outer', '', 0);
    l.notes.push({ level: 'warn', text: `Link type ${link} is not decoded; showing the bytes.` });
    data(w, l, 0, buf.length);
  }
  if (buf.length === 0) {
    const l = w.layer('Frame', '', '', 0);
    l.notes.push({ level: 'bad', text: 'The frame is empty (0 bytes).' });
  }
  // Fix up the overlay's outer headers from the layers before the inner frame.
  if (w.overlay) {
    const ov = w.overlay;
    ov.outer = w.layers
      .filter((l) => l.role === 'outer' && l.offset < ov.innerOffset && l.name !== 'flannel-UDP')
      .map((l) => [l.name === 'Ethernet II' ? 'Ethernet' : l.name, l.length] as [string, number]);
  }
  const ex: Explanation = { length: buf.length, linkName, layers: w.layers, summary: [] };
  if (w.overlay) ex.overlay = w.overlay;
  ex.summary = summarize(ex);
  return ex;
}

// ---- formatting helpers ----------------------------------------------------------------------

function hex(n: number, digits: number): string {
  return '0x' + n.toString(16).padStart(digits, '0');
}

function macKind(buf: Uint8Array, off: number): string {
  let all = true;
  for (let i = 0; i < 6; i++) if (buf[off + i] !== 0xff) all = false;
  if (all) return 'broadcast';
  const b0 = buf[off];
  const group = b0 & 1 ? 'multicast' : 'unicast';
  const local = b0 & 2 ? 'locally administered' : 'globally unique (OUI)';
  return `${group}, ${local}`;
}

function ipv4At(buf: Uint8Array, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** bitPattern draws a Wireshark-style bit mask: `.1.. ....` for `value` under `mask` in `width` bits. */
function bitPattern(value: number, mask: number, width: number): string {
  let s = '';
  for (let i = width - 1; i >= 0; i--) {
    const bit = 2 ** i;
    s += Math.floor(mask / bit) % 2 ? (Math.floor(value / bit) % 2 ? '1' : '0') : '.';
    if (i % 4 === 0 && i > 0) s += ' ';
  }
  return s;
}

function bits(
  value: number,
  mask: number,
  width: number,
  name: string,
  v: string,
  status?: Status,
): ExplainBits {
  const b: ExplainBits = { pattern: bitPattern(value, mask, width), name, value: v };
  if (status) b.status = status;
  return b;
}

function printable(buf: Uint8Array, off: number, len: number, max = 40): string {
  let s = '';
  const n = Math.min(len, max);
  let text = 0;
  for (let i = 0; i < n; i++) {
    const c = buf[off + i];
    if (c >= 0x20 && c < 0x7f) {
      s += String.fromCharCode(c);
      text++;
    } else if (c === 0x0a) s += '\\n';
    else if (c === 0x0d) s += '\\r';
    else if (c === 0x09) s += '\\t';
    else s += '.';
  }
  if (n > 0 && text / n < 0.6) return '';
  return `"${s}${len > max ? '…' : ''}"`;
}

function checksumValue(
  stored: number,
  computed: number | undefined,
  why?: string,
): [string, Status | undefined] {
  if (computed === undefined)
    return [`${hex(stored, 4)} (not verified: ${why ?? 'incomplete data'})`, undefined];
  if (stored === computed) return [`${hex(stored, 4)} valid`, 'ok'];
  return [`${hex(stored, 4)} INVALID, computed ${hex(computed, 4)}`, 'bad'];
}

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
    let s = checksumAdd(w.buf, ip.ipOff + 12, 8, 0);
    s += proto + len;
    return s;
  }
  let s = checksumAdd(w.buf, ip.ipOff + 8, 32, 0);
  s += Math.floor(len / 0x10000) + (len & 0xffff) + proto;
  return s;
}

// ---- link layers -----------------------------------------------------------------------------

function ethernet(w: Walker, off: number, role: LayerRole): void {
  const b = w.buf;
  const l = w.layer('Ethernet II', role, 'IEEE 802.3 §3.2, RFC 894', off);
  if (!w.has(l, off, 6, 'destination MAC')) return;
  w.field(l, off, 6, 'destination MAC', `${bufferToMac(b, off)}  ${macKind(b, off)}`);
  if (!w.has(l, off + 6, 6, 'source MAC')) return;
  w.field(l, off + 6, 6, 'source MAC', `${bufferToMac(b, off + 6)}  ${macKind(b, off + 6)}`);
  let p = off + 12;
  if (!w.has(l, p, 2, 'EtherType')) return;
  let type = w.u16(p);
  if (type === ETHERTYPE_VLAN) {
    w.field(l, p, 2, 'TPID', `${hex(type, 4)} (802.1Q VLAN tag)`, { ref: 'IEEE 802.1Q §9.6' });
    l.notes.push({
      level: 'warn',
      text: 'RFC 7348 §6.1: an inner VXLAN frame SHOULD NOT carry an 802.1Q tag.',
    });
    if (!w.has(l, p + 2, 2, 'TCI')) return;
    const tci = w.u16(p + 2);
    w.field(l, p + 2, 2, 'TCI', hex(tci, 4), {
      bits: [
        bits(tci, 0xe000, 16, 'PCP (priority)', String(tci >>> 13)),
        bits(tci, 0x1000, 16, 'DEI', String((tci >>> 12) & 1)),
        bits(tci, 0x0fff, 16, 'VLAN ID', String(tci & 0xfff)),
      ],
    });
    p += 4;
    if (!w.has(l, p, 2, 'EtherType')) return;
    type = w.u16(p);
  }
  if (type <= 1500) {
    w.field(l, p, 2, 'length', `${type} (IEEE 802.3 length field: LLC frame, not decoded)`);
    data(w, w.layer('Data', role, '', p + 2), p + 2, b.length);
    return;
  }
  w.field(l, p, 2, 'EtherType', `${hex(type, 4)} ${ETHERTYPES[type] ?? '(unknown)'}`);
  const next = p + 2;
  if (type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6) {
    ipAny(w, next, role, false, type === ETHERTYPE_IPV4 ? 4 : 6);
  } else if (type === ETHERTYPE_ARP) {
    arp(w, next, role);
  } else if (next < b.length) {
    data(w, w.layer('Data', role, '', next), next, b.length);
  }
}

function sll(w: Walker, off: number): void {
  const l = w.layer('Linux cooked header', 'outer', 'LINKTYPE_LINUX_SLL', off);
  if (!w.has(l, off, 16, 'the 16-byte SLL header')) return;
  const pktTypes = ['to us', 'broadcast', 'multicast', 'to another host', 'sent by us'];
  const pt = w.u16(off);
  w.field(l, off, 2, 'packet type', `${pt} (${pktTypes[pt] ?? 'unknown'})`);
  w.field(l, off + 2, 2, 'ARPHRD type', String(w.u16(off + 2)));
  const alen = w.u16(off + 4);
  w.field(l, off + 4, 2, 'address length', String(alen));
  w.field(l, off + 6, 8, 'address', alen === 6 ? bufferToMac(w.buf, off + 6) : hex(w.u32(off + 6), 8));
  const proto = w.u16(off + 14);
  w.field(l, off + 14, 2, 'protocol', `${hex(proto, 4)} ${ETHERTYPES[proto] ?? ''}`.trim());
  if (proto === ETHERTYPE_IPV4 || proto === ETHERTYPE_IPV6) ipAny(w, off + 16, 'outer', false);
  else if (proto === ETHERTYPE_ARP) arp(w, off + 16, 'outer');
  else if (off + 16 < w.buf.length) data(w, w.layer('Data', 'outer', '', off + 16), off + 16, w.buf.length);
}

function arp(w: Walker, off: number, role: LayerRole): void {
  const b = w.buf;
  const l = w.layer('ARP', role, 'RFC 826', off);
  if (!w.has(l, off, 8, 'the ARP fixed header')) return;
  const htype = w.u16(off);
  const ptype = w.u16(off + 2);
  const hlen = w.u8(off + 4);
  const plen = w.u8(off + 5);
  const op = w.u16(off + 6);
  w.field(l, off, 2, 'hardware type', `${htype}${htype === 1 ? ' (Ethernet)' : ''}`);
  w.field(l, off + 2, 2, 'protocol type', `${hex(ptype, 4)} ${ETHERTYPES[ptype] ?? ''}`.trim());
  w.field(l, off + 4, 1, 'hardware size', String(hlen));
  w.field(l, off + 5, 1, 'protocol size', String(plen));
  w.field(l, off + 6, 2, 'opcode', `${op} (${op === 1 ? 'request' : op === 2 ? 'reply' : 'unknown'})`);
  if (hlen !== 6 || plen !== 4) {
    l.notes.push({ level: 'warn', text: `Only Ethernet/IPv4 ARP (sizes 6/4) is decoded further.` });
    return;
  }
  if (!w.has(l, off + 8, 20, 'the ARP addresses')) return;
  w.field(l, off + 8, 6, 'sender MAC', bufferToMac(b, off + 8));
  w.field(l, off + 14, 4, 'sender IP', ipv4At(b, off + 14));
  w.field(l, off + 18, 6, 'target MAC', bufferToMac(b, off + 18));
  w.field(l, off + 24, 4, 'target IP', ipv4At(b, off + 24));
  l.notes.push({
    level: 'info',
    text:
      op === 1
        ? `Who has ${ipv4At(b, off + 24)}? Tell ${ipv4At(b, off + 14)}.`
        : `${ipv4At(b, off + 14)} is at ${bufferToMac(b, off + 8)}.`,
  });
  trailer(w, l, off + 28, 'ARP message');
}

/** trailer notes bytes after a layer's logical end (Ethernet padding to the 60-byte minimum). */
function trailer(w: Walker, l: ExplainLayer, end: number, what: string): void {
  if (end >= w.buf.length) return;
  const n = w.buf.length - end;
  const pad = w.buf.length <= 60 ? ' (Ethernet padding up to the 60-byte minimum frame)' : '';
  const t = w.layer('Trailer', l.role, '', end);
  w.field(t, end, n, 'padding', `${n} bytes after the ${what}${pad}`);
}

// ---- network layers --------------------------------------------------------------------------

function ipAny(w: Walker, off: number, role: LayerRole, quoted: boolean, expect?: 4 | 6): void {
  const l0 = w.layer('IP', role, 'RFC 791 / RFC 8200', off);
  if (!w.has(l0, off, 1, 'the IP version nibble')) return;
  const v = w.u8(off) >>> 4;
  w.layers.pop();
  if (v === 4) ipv4(w, off, role, quoted, expect === 6);
  else if (v === 6) ipv6(w, off, role, expect === 4);
  else {
    const l = w.layer('IP', role, 'RFC 791 §3.1 / RFC 8200 §3', off);
    w.field(l, off, 1, 'version', `${v} (neither 4 nor 6)`, { status: 'bad' });
    l.notes.push({ level: 'bad', text: `Not an IP packet: version nibble is ${v}.` });
    data(w, w.layer('Data', role, '', off), off, w.buf.length);
  }
}

function ipv4(w: Walker, off: number, role: LayerRole, quoted: boolean, mismatched: boolean): void {
  const b = w.buf;
  const l = w.layer('IPv4', role, 'RFC 791 §3.1', off);
  if (mismatched)
    l.notes.push({ level: 'bad', text: 'The EtherType said IPv6 but the version nibble is 4.' });
  const vihl = w.u8(off);
  const ihl = vihl & 0x0f;
  const hl = ihl * 4;
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
  if (!w.has(l, off + 1, 1, 'type of service')) return;
  const tos = w.u8(off + 1);
  w.field(l, off + 1, 1, 'DSCP, ECN', `${hex(tos, 2)}`, {
    ref: 'RFC 2474, RFC 3168',
    bits: [
      bits(tos, 0xfc, 8, 'DSCP', dscpName(tos >>> 2)),
      bits(tos, 0x03, 8, 'ECN', `${tos & 3} ${ECN_NAMES[tos & 3]}`),
    ],
  });
  if (!w.has(l, off + 2, 2, 'total length')) return;
  const total = w.u16(off + 2);
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
    off + 2,
    2,
    'total length',
    `${total} bytes${totalNote}`,
    totalStatus ? { status: totalStatus } : {},
  );
  if (!w.has(l, off + 4, 2, 'identification')) return;
  const id = w.u16(off + 4);
  w.field(l, off + 4, 2, 'identification', `${hex(id, 4)} (${id})`);
  if (!w.has(l, off + 6, 2, 'flags, fragment offset')) return;
  const ff = w.u16(off + 6);
  const df = (ff & 0x4000) !== 0;
  const mf = (ff & 0x2000) !== 0;
  const fragOff = ff & 0x1fff;
  const names = [df ? 'DF' : '', mf ? 'MF' : '', fragOff ? `offset ${fragOff * 8}` : ''].filter(Boolean);
  w.field(
    l,
    off + 6,
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
        bits(ff, 0x4000, 16, "DF (don't fragment)", df ? '1 set' : '0 may fragment'),
        bits(ff, 0x2000, 16, 'MF (more fragments)', mf ? '1 more follow' : '0 last fragment'),
        bits(ff, 0x1fff, 16, 'fragment offset', `${fragOff} (× 8 = byte ${fragOff * 8})`),
      ],
    },
  );
  if (!w.has(l, off + 8, 1, 'time to live')) return;
  w.field(l, off + 8, 1, 'time to live', String(w.u8(off + 8)));
  if (!w.has(l, off + 9, 1, 'protocol')) return;
  const proto = w.u8(off + 9);
  w.field(l, off + 9, 1, 'protocol', `${proto} ${IP_PROTOCOLS[proto] ?? '(unknown)'}`);
  if (!w.has(l, off + 10, 2, 'header checksum')) return;
  const stored = w.u16(off + 10);
  const complete = ihl >= 5 && off + hl <= b.length;
  const [cv, cs] = checksumValue(
    stored,
    complete ? computeChecksum(b, off, hl, off + 10) : undefined,
    ihl < 5 ? 'bad IHL' : 'header incomplete',
  );
  w.field(l, off + 10, 2, 'header checksum', cv, cs ? { status: cs } : {});
  if (!w.has(l, off + 12, 4, 'source address')) return;
  w.field(l, off + 12, 4, 'source address', ipv4At(b, off + 12));
  if (!w.has(l, off + 16, 4, 'destination address')) return;
  w.field(l, off + 16, 4, 'destination address', ipv4At(b, off + 16));
  if (ihl < 5) {
    l.notes.push({ level: 'bad', text: `IHL ${ihl} is below the minimum of 5; the payload is not decoded.` });
    w.stopped = true;
    return;
  }
  if (hl > 20) {
    if (!w.has(l, off + 20, hl - 20, 'options')) return;
    w.field(l, off + 20, hl - 20, 'options', `${hl - 20} bytes`);
  }
  const start = off + hl;
  const end = quoted ? b.length : Math.min(b.length, off + Math.max(total, hl));
  if (fragOff !== 0) {
    l.notes.push({ level: 'info', text: 'A non-first fragment: its payload continues an earlier packet.' });
    if (start < end) data(w, w.layer('Data', role, '', start), start, end);
    if (!quoted) trailer(w, l, end, 'IPv4 packet');
    return;
  }
  if (mf && !quoted) l.notes.push({ level: 'info', text: 'First fragment of a fragmented packet (MF set).' });
  if (quoted) {
    l.notes.push({ level: 'info', text: 'This IPv4 header is quoted inside an ICMP error message.' });
  }
  const ip: IpContext = { version: 4, ipOff: off, payloadLen: Math.max(0, total - hl), role, quoted };
  transport(w, proto, start, end, ip);
  if (!quoted && !w.stopped) trailer(w, l, end, 'IPv4 packet');
}

function ipv6(w: Walker, off: number, role: LayerRole, mismatched: boolean): void {
  const b = w.buf;
  const l = w.layer('IPv6', role, 'RFC 8200 §3', off);
  if (mismatched)
    l.notes.push({ level: 'bad', text: 'The EtherType said IPv4 but the version nibble is 6.' });
  if (!w.has(l, off, 4, 'version, traffic class, flow label')) return;
  const word = w.u32(off);
  const tc = (word >>> 20) & 0xff;
  w.field(l, off, 4, 'version, class, flow', `6, tc ${hex(tc, 2)}, flow ${hex(word & 0xfffff, 5)}`, {
    bits: [
      bits(word, 0xf0000000, 32, 'version', '6'),
      bits(word, 0x0fc00000, 32, 'DSCP', dscpName(tc >>> 2)),
      bits(word, 0x00300000, 32, 'ECN', `${tc & 3} ${ECN_NAMES[tc & 3]}`),
      bits(word, 0x000fffff, 32, 'flow label', hex(word & 0xfffff, 5)),
    ],
  });
  if (!w.has(l, off + 4, 2, 'payload length')) return;
  const plen = w.u16(off + 4);
  const avail = b.length - off - 40;
  w.field(
    l,
    off + 4,
    2,
    'payload length',
    `${plen} bytes${plen > avail ? ` (the frame holds only ${Math.max(0, avail)})` : ''}`,
    plen > avail ? { status: 'bad' } : {},
  );
  if (!w.has(l, off + 6, 1, 'next header')) return;
  const nh = w.u8(off + 6);
  w.field(l, off + 6, 1, 'next header', `${nh} ${IP_PROTOCOLS[nh] ?? '(unknown)'}`);
  if (!w.has(l, off + 7, 1, 'hop limit')) return;
  w.field(l, off + 7, 1, 'hop limit', String(w.u8(off + 7)));
  if (!w.has(l, off + 8, 16, 'source address')) return;
  w.field(l, off + 8, 16, 'source address', ipv6ToString(b, off + 8));
  if (!w.has(l, off + 24, 16, 'destination address')) return;
  w.field(l, off + 24, 16, 'destination address', ipv6ToString(b, off + 24));
  const start = off + 40;
  const end = Math.min(b.length, start + plen);
  const ip: IpContext = { version: 6, ipOff: off, payloadLen: plen, role, quoted: false };
  if (nh === IP_PROTO_TCP || nh === IP_PROTO_UDP || nh === IP_PROTO_ICMPV6) {
    transport(w, nh, start, end, ip);
  } else {
    if (start < end) {
      l.notes.push({ level: 'info', text: `Next header ${nh} is not decoded; showing the bytes.` });
      data(w, w.layer('Data', role, '', start), start, end);
    }
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

function portName(p: number): string {
  const s = SERVICE_PORTS[p];
  return s ? `${p} (${s})` : String(p);
}

function udp(w: Walker, off: number, end: number, ip: IpContext): void {
  const b = w.buf;
  const l = w.layer('UDP', ip.role, 'RFC 768', off);
  if (!w.has(l, off, 2, 'source port')) return;
  const sport = w.u16(off);
  if (!w.has(l, off + 2, 2, 'destination port')) {
    w.field(l, off, 2, 'source port', portName(sport));
    return;
  }
  const dport = w.u16(off + 2);
  const isVxlan = !ip.quoted && w.vxlanPorts.includes(dport);
  const isFlannel = !ip.quoted && !isVxlan && w.udpPorts.includes(dport);
  w.field(
    l,
    off,
    2,
    'source port',
    portName(sport) + (isVxlan ? '  hash of the inner flow' : ''),
    isVxlan ? { ref: 'RFC 7348 §5' } : {},
  );
  w.field(l, off + 2, 2, 'destination port', portName(dport));
  if (!w.has(l, off + 4, 2, 'length')) return;
  const len = w.u16(off + 4);
  let lenNote = '';
  let lenStatus: Status | undefined;
  if (len < 8) {
    lenNote = ' (less than the 8-byte header)';
    lenStatus = 'bad';
  } else if (!ip.quoted && len !== ip.payloadLen) {
    lenNote = ` (IP says ${ip.payloadLen})`;
    lenStatus = 'bad';
  } else if (!ip.quoted && off + len > b.length) {
    lenNote = ` (the frame holds only ${b.length - off})`;
    lenStatus = 'bad';
  }
  w.field(
    l,
    off + 4,
    2,
    'length',
    `${len} bytes (8 header + ${Math.max(0, len - 8)} payload)${lenNote}`,
    lenStatus ? { status: lenStatus } : {},
  );
  if (!w.has(l, off + 6, 2, 'checksum')) return;
  const stored = w.u16(off + 6);
  if (ip.quoted) {
    w.field(l, off + 6, 2, 'checksum', `${hex(stored, 4)} (not checked in a quoted header)`);
    return;
  }
  if (stored === 0 && ip.version === 4) {
    w.field(l, off + 6, 2, 'checksum', '0x0000 none (allowed over IPv4; RFC 7348 §5 says SHOULD be zero)');
  } else if (stored === 0) {
    w.field(l, off + 6, 2, 'checksum', '0x0000 missing (IPv6 requires a UDP checksum, RFC 8200 §8.1)', {
      status: 'bad',
    });
  } else {
    const ok = len >= 8 && off + len <= b.length;
    let computed = ok
      ? computeChecksum(b, off, len, off + 6, pseudoHeaderSum(w, ip, IP_PROTO_UDP, len))
      : undefined;
    if (computed === 0) computed = 0xffff; // RFC 768: a computed zero is sent as all ones
    const [cv, cs] = checksumValue(stored, computed, 'datagram incomplete');
    w.field(
      l,
      off + 6,
      2,
      'checksum',
      cv + (ok ? ' (over pseudo-header + datagram)' : ''),
      cs ? { status: cs } : {},
    );
  }
  const pstart = off + 8;
  const pend = Math.min(end, len >= 8 ? off + len : end);
  if (isVxlan) vxlan(w, pstart, pend);
  else if (isFlannel) flannelUdp(w, pstart, pend);
  else if (pstart < pend) data(w, w.layer('Data', ip.role, '', pstart), pstart, pend);
}

function tcp(w: Walker, off: number, end: number, ip: IpContext): void {
  const b = w.buf;
  const l = w.layer('TCP', ip.role, 'RFC 9293 §3.1', off);
  if (!w.has(l, off, 4, 'ports')) return;
  w.field(l, off, 2, 'source port', portName(w.u16(off)));
  w.field(l, off + 2, 2, 'destination port', portName(w.u16(off + 2)));
  if (ip.quoted && off + 8 > b.length) return;
  if (!w.has(l, off + 4, 4, 'sequence number')) return;
  w.field(l, off + 4, 4, 'sequence number', String(w.u32(off + 4)));
  if (ip.quoted && off + 20 > b.length) {
    l.notes.push({ level: 'info', text: 'ICMP quotes only the first 8 bytes of the TCP header.' });
    return;
  }
  if (!w.has(l, off + 8, 4, 'acknowledgment number')) return;
  w.field(l, off + 8, 4, 'acknowledgment number', String(w.u32(off + 8)));
  if (!w.has(l, off + 12, 2, 'data offset, flags')) return;
  const word = w.u16(off + 12);
  const doff = word >>> 12;
  const flagNames = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'];
  const set = flagNames.filter((_, i) => word & (1 << i));
  const flagBits = flagNames.map((n, i) => bits(word, 1 << i, 16, n, word & (1 << i) ? '1' : '0')).reverse();
  w.field(l, off + 12, 2, 'data offset, flags', `${doff * 4}-byte header, [${set.join(', ')}]`, {
    status: doff < 5 ? 'bad' : undefined,
    bits: [
      bits(word, 0xf000, 16, 'data offset', `${doff} × 4 = ${doff * 4} bytes`, doff < 5 ? 'bad' : undefined),
      bits(word, 0x0f00, 16, 'reserved', String((word >>> 8) & 0xf)),
      ...flagBits,
    ],
  });
  if (!w.has(l, off + 14, 2, 'window')) return;
  w.field(l, off + 14, 2, 'window', String(w.u16(off + 14)));
  if (!w.has(l, off + 16, 2, 'checksum')) return;
  const stored = w.u16(off + 16);
  const segLen = ip.payloadLen;
  const complete = !ip.quoted && off + segLen <= b.length && segLen >= 20;
  const [cv, cs] = checksumValue(
    stored,
    complete
      ? computeChecksum(b, off, segLen, off + 16, pseudoHeaderSum(w, ip, IP_PROTO_TCP, segLen))
      : undefined,
    ip.quoted ? 'quoted header' : 'segment incomplete',
  );
  w.field(l, off + 16, 2, 'checksum', cv, cs ? { status: cs } : {});
  if (!w.has(l, off + 18, 2, 'urgent pointer')) return;
  w.field(l, off + 18, 2, 'urgent pointer', String(w.u16(off + 18)));
  if (doff < 5) {
    l.notes.push({ level: 'bad', text: `Data offset ${doff} is below the minimum of 5.` });
    w.stopped = true;
    return;
  }
  const hl = doff * 4;
  if (hl > 20) {
    if (!w.has(l, off + 20, hl - 20, 'options')) return;
    tcpOptions(w, l, off + 20, off + hl);
  }
  const pstart = off + hl;
  if (pstart < end) data(w, w.layer('Data', ip.role, '', pstart), pstart, end);
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
      w.field(l, p, 10, 'option timestamps', `TSval ${w.u32(p + 2)}, TSecr ${w.u32(p + 6)}`, {
        ref: 'RFC 7323 §3',
      });
    else w.field(l, p, len, `option ${kind}`, `${len} bytes`);
    p += len;
  }
}

function icmp(w: Walker, off: number, end: number, ip: IpContext): void {
  const b = w.buf;
  const l = w.layer('ICMP', ip.role, 'RFC 792', off);
  if (!w.has(l, off, 2, 'type and code')) return;
  const type = w.u8(off);
  const code = w.u8(off + 1);
  w.field(l, off, 1, 'type', `${type} ${ICMP_TYPES[type] ?? '(unknown)'}`);
  const codeName =
    type === 3
      ? ICMP_UNREACH_CODES[code]
      : type === 11
        ? code === 0
          ? 'TTL exceeded in transit'
          : 'fragment reassembly time exceeded'
        : undefined;
  w.field(l, off + 1, 1, 'code', `${code}${codeName ? ' ' + codeName : ''}`);
  if (!w.has(l, off + 2, 2, 'checksum')) return;
  const stored = w.u16(off + 2);
  const mlen = end - off;
  const complete = !ip.quoted && off + ip.payloadLen <= b.length && mlen === ip.payloadLen;
  const [cv, cs] = checksumValue(
    stored,
    complete ? computeChecksum(b, off, mlen, off + 2) : undefined,
    'message incomplete',
  );
  w.field(
    l,
    off + 2,
    2,
    'checksum',
    cv + (complete ? ` (over ${mlen} bytes)` : ''),
    cs ? { status: cs } : {},
  );
  if (!w.has(l, off + 4, 4, 'rest of header')) return;
  if (type === 0 || type === 8) {
    w.field(l, off + 4, 2, 'identifier', `${hex(w.u16(off + 4), 4)} (${w.u16(off + 4)})`);
    w.field(l, off + 6, 2, 'sequence number', String(w.u16(off + 6)));
    if (off + 8 < end) data(w, w.layer('Data', ip.role, '', off + 8), off + 8, end);
    return;
  }
  if (type === 3 && code === 4) {
    w.field(l, off + 4, 2, 'unused', hex(w.u16(off + 4), 4));
    w.field(l, off + 6, 2, 'next-hop MTU', `${w.u16(off + 6)} bytes`, { ref: 'RFC 1191 §4' });
  } else {
    w.field(
      l,
      off + 4,
      4,
      type === 5 ? 'gateway address' : 'unused',
      type === 5 ? ipv4At(b, off + 4) : hex(w.u32(off + 4), 8),
    );
  }
  if ((type === 3 || type === 11 || type === 12) && off + 8 < b.length && !ip.quoted) {
    ipAny(w, off + 8, 'quoted', true);
    return;
  }
  if (off + 8 < end) data(w, w.layer('Data', ip.role, '', off + 8), off + 8, end);
}

function icmpv6(w: Walker, off: number, end: number, ip: IpContext): void {
  const b = w.buf;
  const l = w.layer('ICMPv6', ip.role, 'RFC 4443 §2.1', off);
  if (!w.has(l, off, 4, 'type, code, checksum')) return;
  const type = w.u8(off);
  w.field(l, off, 1, 'type', `${type} ${ICMPV6_TYPES[type] ?? '(unknown)'}`);
  w.field(l, off + 1, 1, 'code', String(w.u8(off + 1)));
  const stored = w.u16(off + 2);
  const mlen = end - off;
  const complete = off + ip.payloadLen <= b.length && mlen === ip.payloadLen;
  const [cv, cs] = checksumValue(
    stored,
    complete
      ? computeChecksum(b, off, mlen, off + 2, pseudoHeaderSum(w, ip, IP_PROTO_ICMPV6, mlen))
      : undefined,
    'message incomplete',
  );
  w.field(l, off + 2, 2, 'checksum', cv, cs ? { status: cs } : {});
  if ((type === 128 || type === 129) && w.has(l, off + 4, 4, 'identifier and sequence')) {
    w.field(l, off + 4, 2, 'identifier', hex(w.u16(off + 4), 4));
    w.field(l, off + 6, 2, 'sequence number', String(w.u16(off + 6)));
    if (off + 8 < end) data(w, w.layer('Data', ip.role, '', off + 8), off + 8, end);
    return;
  }
  if (off + 4 < end) data(w, w.layer('Data', ip.role, '', off + 4), off + 4, end);
}

// ---- overlays --------------------------------------------------------------------------------

function vxlan(w: Walker, off: number, end: number): void {
  const l = w.layer('VXLAN', 'outer', 'RFC 7348 §5', off);
  if (!w.has(l, off, 1, 'flags')) return;
  const flags = w.u8(off);
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
    l.notes.push({
      level: 'bad',
      text: 'RFC 7348 §5: the I flag MUST be set for a valid VNI; weft drops this frame (bad_vxlan_flags).',
    });
  if (rsv) {
    l.notes.push({
      level: 'warn',
      text: 'Reserved flag bits are set: RFC 7348 §5 says ignore them on receipt (GBP/GPE use them); weft accepts and counts an anomaly.',
    });
  }
  if (!w.has(l, off + 1, 3, 'reserved')) return;
  const r1 = (w.u8(off + 1) << 16) | w.u16(off + 2);
  w.field(
    l,
    off + 1,
    3,
    'reserved',
    `${hex(r1, 6)}${r1 ? ' (must be 0 on send, ignored on receipt)' : ''}`,
    r1 ? { status: 'warn' } : {},
  );
  if (!w.has(l, off + 4, 3, 'VNI')) return;
  const vni = (w.u8(off + 4) << 16) | w.u16(off + 5);
  w.field(l, off + 4, 3, 'VNI', `${vni} (${hex(vni, 6)})`, { ref: 'RFC 7348 §5' });
  if (!w.has(l, off + 7, 1, 'reserved')) return;
  const r2 = w.u8(off + 7);
  w.field(
    l,
    off + 7,
    1,
    'reserved',
    `${hex(r2, 2)}${r2 ? ' (must be 0 on send, ignored on receipt)' : ''}`,
    r2 ? { status: 'warn' } : {},
  );
  const inner = off + 8;
  const innerEnd = Math.min(end, w.buf.length);
  w.overlay = {
    kind: 'vxlan',
    vni,
    outer: [],
    innerOffset: inner,
    innerLength: Math.max(0, innerEnd - inner),
    innerIpLength: Math.max(0, innerEnd - inner - 14),
  };
  if (inner >= w.buf.length) {
    l.notes.push({ level: 'bad', text: 'No inner Ethernet frame follows the VXLAN header.' });
    return;
  }
  ethernet(w, inner, 'inner');
}

function flannelUdp(w: Walker, off: number, end: number): void {
  const l = w.layer('flannel-UDP', 'outer', 'flannel udp backend', off);
  l.notes.push({
    level: 'info',
    text: 'No overlay header: the UDP payload is the inner IP packet itself (flannel backend "udp", port 8285).',
  });
  const innerEnd = Math.min(end, w.buf.length);
  w.overlay = {
    kind: 'udp',
    outer: [],
    innerOffset: off,
    innerLength: Math.max(0, innerEnd - off),
    innerIpLength: Math.max(0, innerEnd - off),
  };
  if (off >= w.buf.length) {
    l.notes.push({ level: 'bad', text: 'The UDP payload is empty: no inner packet.' });
    return;
  }
  ipAny(w, off, 'inner', false);
}

function data(w: Walker, l: ExplainLayer, off: number, end: number): void {
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

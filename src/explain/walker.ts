/**
 * The decoder's shared walk state and its dispatch tables (see decode.ts for the design notes).
 * Every layer module imports this one and no other layer module: a layer hands the bytes it
 * carries to the next through `layers`, which decode.ts fills once at load, so the layers call
 * each other (an ICMP error quotes IP, a VXLAN datagram carries Ethernet) without an import circle.
 */
import { checksumAdd, checksumFinish } from '../wire/checksum';
import { ETH_HEADER_SIZE } from '../wire/ethernet';
import { u32ToIpv4 } from '../net/addr';
import { IPV4_OFF_SRC, ipv4Src, ipVersion, readU32 } from '../wire/ipv4';
import { IPV6_ADDR_SIZE, IPV6_OFF_SRC } from '../wire/ipv6';
import type { ExplainField, ExplainLayer, ExplainNote, LayerRole, OverlayInfo } from './model';
import { printable } from './names';

/** OverlayKind says how a UDP port's payload is decoded: VXLAN, flannel-UDP, or sniffed per packet. */
export type OverlayKind = 'vxlan' | 'udp' | 'auto';

/**
 * IpDecoder decodes an IPv4 or IPv6 header at `off` by its version nibble; `expect` is the version
 * the enclosing layer announced, `underlay` marks the frame's first IP header.
 */
export type IpDecoder = (
  w: Walker,
  off: number,
  lim: number,
  role: LayerRole,
  quoted: boolean,
  expect?: 4 | 6,
  underlay?: boolean,
) => void;
/**
 * EtherTypeDecoder decodes what an EtherType (or a Linux cooked protocol type) announces at `off`;
 * the Ethernet II decoder itself has the same shape.
 */
export type EtherTypeDecoder = (
  w: Walker,
  off: number,
  lim: number,
  role: LayerRole,
  underlay: boolean,
) => void;
/** TransportDecoder decodes the transport header at `off`, ending at `end`, inside the IP packet `ip`. */
export type TransportDecoder = (w: Walker, off: number, end: number, ip: IpContext) => void;
/** OverlayDecoder decodes a UDP payload buf[off..end) as an overlay; `lim` is the datagram's end. */
export type OverlayDecoder = (w: Walker, off: number, end: number, lim: number) => void;

/** LayerTables are the decoder's dispatch tables: which function decodes what a header announces. */
export interface LayerTables {
  /** The Ethernet II decoder: the frame's link layer, and the inner frame of a VXLAN datagram. */
  ethernet: EtherTypeDecoder;
  /** The IP decoder: a link's payload, a flannel-UDP payload, the header an ICMP error quotes. */
  ip: IpDecoder;
  /** Decoders by EtherType; a type not in the table is shown as data. */
  readonly etherTypes: Map<number, EtherTypeDecoder>;
  /**
   * Transport decoders indexed by IPv4 protocol number (0-255; an array, not a Map: it is read
   * once per IP header on the capture path); a protocol not in the table is shown as data.
   */
  readonly ipv4Protocols: Array<TransportDecoder | undefined>;
  /** Transport decoders indexed by IPv6 next header (after the extension headers). */
  readonly ipv6Protocols: Array<TransportDecoder | undefined>;
  /** Overlay decoders by the kind `Walker.overlayFor` chose. */
  readonly overlays: Record<'vxlan' | 'udp', OverlayDecoder>;
}

function unregistered(): never {
  throw new Error('explain: the layer tables are filled by decode.ts; import decodeFrame from there');
}

/**
 * layers is the one LayerTables instance. decode.ts builds it whole, once, at load
 * (`registerLayers`): its fields are never reassigned, which lets V8 treat the call targets as
 * constants on the capture path (bench/capture.ts).
 */
export let layers: LayerTables = {
  ethernet: unregistered,
  ip: unregistered,
  etherTypes: new Map(),
  ipv4Protocols: [],
  ipv6Protocols: [],
  overlays: { vxlan: unregistered, udp: unregistered },
};

/** registerLayers installs the dispatch tables; decode.ts calls it once at load. */
export function registerLayers(tables: LayerTables): void {
  layers = tables;
}

/** protocolTable returns a 256-slot table (one per protocol number) holding `entries`. */
export function protocolTable(
  entries: ReadonlyArray<readonly [number, TransportDecoder]>,
): Array<TransportDecoder | undefined> {
  const t = new Array<TransportDecoder | undefined>(256).fill(undefined);
  for (const [proto, decode] of entries) t[proto] = decode;
  return t;
}

/** The IP context a transport header needs for its pseudo-header checksum and its bounds. */
export interface IpContext {
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
export const NO_FIELDS = Object.freeze([]) as unknown as ExplainField[];
export const NO_NOTES = Object.freeze([]) as unknown as ExplainNote[];
export const NO_SUMMARY = Object.freeze([]) as unknown as string[];

/** Walker carries the frame, the layers found so far and the overlay discovery. */
export class Walker {
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
export function truncation(lim: number, off: number, n: number, what: string): string | undefined {
  if (off + n <= lim) return undefined;
  return `truncated ${what}: need ${n} bytes at ${off}, have ${Math.max(0, lim - off)}`;
}

/** innerEthernetTruncation words an inner Ethernet header cut short by its VXLAN datagram's end. */
export function innerEthernetTruncation(lim: number, off: number): string | undefined {
  const have = lim - off;
  return have < ETH_HEADER_SIZE ? `truncated inner Ethernet: ${Math.max(0, have)} of 14 bytes` : undefined;
}

/** flag records `problem` on the layer unless an earlier one is already there. */
export function flag(l: ExplainLayer, problem: string | undefined): void {
  if (problem !== undefined && l.problem === undefined) l.problem = problem;
}

/** computeChecksum returns the checksum the field at `csumOff` should hold (field taken as zero). */
export function computeChecksum(
  buf: Uint8Array,
  off: number,
  len: number,
  csumOff: number,
  initial = 0,
): number {
  let sum = checksumAdd(buf, off, csumOff - off, initial);
  const after = csumOff + 2;
  // Only the last chained range may be odd, so the range before the field must be even-aligned.
  sum = checksumAdd(buf, after, off + len - after, sum);
  return checksumFinish(sum);
}

export function pseudoHeaderSum(w: Walker, ip: IpContext, proto: number, len: number): number {
  if (ip.version === 4) {
    let s = checksumAdd(w.buf, ip.ipOff + IPV4_OFF_SRC, 8, 0);
    s += proto + len;
    return s;
  }
  let s = checksumAdd(w.buf, ip.ipOff + IPV6_OFF_SRC, 2 * IPV6_ADDR_SIZE, 0);
  s += Math.floor(len / 0x10000) + (len & 0xffff) + proto;
  return s;
}

/** trailer notes bytes after a layer's logical end (Ethernet padding to the 60-byte minimum). */
export function trailer(w: Walker, l: ExplainLayer, end: number, what: string): void {
  if (end >= w.buf.length) return;
  const n = w.buf.length - end;
  const pad = w.buf.length <= 60 ? ' (Ethernet padding up to the 60-byte minimum frame)' : '';
  const t = w.layer('Trailer', l.role, '', end);
  if (w.full) w.field(t, end, n, 'padding', `${n} bytes after the ${what}${pad}`);
}

/** data records a payload row on `l` (a `Data` layer the caller created, in both details). */
export function data(w: Walker, l: ExplainLayer, off: number, end: number): void {
  if (!w.full) return;
  const n = Math.max(0, Math.min(end, w.buf.length) - off);
  const text = printable(w.buf, off, n);
  w.field(l, off, n, 'data', `${n} bytes${text ? '  ' + text : ''}`);
}

/** ipv4At returns the dotted-quad text of the IPv4 address at buf[off..off+4). */
export function ipv4At(buf: Uint8Array, off: number): string {
  return u32ToIpv4(readU32(buf, off));
}

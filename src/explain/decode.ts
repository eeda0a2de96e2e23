/**
 * The frame decoder: walks a captured frame layer by layer and records every header field with
 * its offset, bytes, decoded value and defining document (the `weft explain` view), plus each
 * layer's decoded values (`info`) and first structural problem (`problem`), from which
 * src/capture/summarize.ts builds the one-line `weft capture` summary. Both views come from this
 * one pass; neither renderer reads frame bytes for protocol structure.
 *
 * Modules, by layer (each lists its references at its top):
 *   decode.ts            options, the link type dispatch, the dispatch tables' contents, the summary
 *   walker.ts            the walk state (`Walker`), shared checks, and the dispatch tables
 *   decode-link.ts       Ethernet II and 802.1Q tags, Linux cooked v1/v2, BSD loopback, ARP
 *   decode-ip.ts         IPv4, IPv6 and its extension headers
 *   decode-transport.ts  UDP, TCP, ICMP, ICMPv6
 *   decode-overlay.ts    VXLAN, flannel-UDP
 * A layer hands its payload on through the tables in walker.ts (by EtherType, by IP protocol, by
 * overlay kind), never by importing another layer, so there is no import circle although the
 * layers nest both ways (an ICMP error quotes IP; a VXLAN datagram carries Ethernet).
 *
 * Design notes: this is a control path that must survive any input (hex typed by hand, a corrupt
 * capture): every read is bounds-checked through `Walker.has`, a short frame ends the walk with a
 * `bad` note naming the field that did not fit, and nothing here throws on frame content. Two
 * bounds are kept apart on purpose. Field rows go as far as the captured bytes go, so the byte
 * view shows what is there; `problem` checks each header against its enclosing packet (`lim`:
 * the capture, an IP total length, a UDP length), because bytes past a packet's end (Ethernet
 * padding, a cut datagram) are not part of it. Which UDP ports carry VXLAN or flannel-UDP is
 * decided in one place (`Walker.overlayFor`), once, for both views.
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
// Here and in every decode-*.ts and walker.ts: named imports from each header module, not
// `import * as wire from '../wire'`. The index's `export *` compiles to one getter per name, and
// those getter calls were half of the summary walk's time (bench/capture.ts).
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethernet';
import { IP_PROTO_ICMP, IP_PROTO_ICMPV6, IP_PROTO_TCP, IP_PROTO_UDP, ipVersion } from '../wire/ipv4';
import { VXLAN_IANA_PORT } from '../wire/vxlan';
import type { DecodeDetail, Explanation } from './model';
import { type OverlayKind, NO_SUMMARY, Walker, data, protocolTable, registerLayers } from './walker';
import { arp, ethernet, loopback, sll, sll2 } from './decode-link';
import { ipAny } from './decode-ip';
import { icmp, icmpv6, tcp, udp } from './decode-transport';
import { flannelUdp, vxlan } from './decode-overlay';

// The dispatch tables every layer decodes its payload through (walker.ts). ICMP is only read
// under IPv4 and ICMPv6 only under IPv6; anything else a header announces is shown as data.
registerLayers({
  ethernet,
  ip: ipAny,
  etherTypes: new Map([
    [ETHERTYPE_IPV4, (w, off, lim, role, underlay) => ipAny(w, off, lim, role, false, 4, underlay)],
    [ETHERTYPE_IPV6, (w, off, lim, role, underlay) => ipAny(w, off, lim, role, false, 6, underlay)],
    [ETHERTYPE_ARP, (w, off, lim, role) => arp(w, off, lim, role)],
  ]),
  ipv4Protocols: protocolTable([
    [IP_PROTO_UDP, udp],
    [IP_PROTO_TCP, tcp],
    [IP_PROTO_ICMP, icmp],
  ]),
  ipv6Protocols: protocolTable([
    [IP_PROTO_UDP, udp],
    [IP_PROTO_TCP, tcp],
    [IP_PROTO_ICMPV6, icmpv6],
  ]),
  overlays: { vxlan, udp: flannelUdp },
});

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

export type { OverlayKind } from './walker';

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

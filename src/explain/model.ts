/**
 * The structured result of `explainFrameRows`: layers of annotated fields, byte range by byte range.
 *
 * Design notes: the decoder (decode.ts) produces this plain data and two renderers turn it into
 * text: render.ts (the byte-by-byte view of `weft explain` and `weft capture --explain`) and
 * src/capture/summarize.ts (the one-line `weft capture` summary). Fields carry what the byte view
 * shows; `info` and `problem` carry the decoded values and structural verdict the one-line summary
 * needs, so neither renderer parses bytes and tests can assert on values instead of scraping text.
 * A decode with `detail: 'summary'` records only the second part (see `Explanation.detail`).
 */

import type { ChecksumState } from '../wire/checksum-state';

/**
 * DecodeDetail is how much the decoder records: `full` (the byte-by-byte view: fields, notes,
 * checksum verdicts, summary lines) or `summary` (only each layer's `info` and `problem`, which the
 * one-line `weft capture` summary reads).
 */
export type DecodeDetail = 'full' | 'summary';

/** Status marks a field or note that is checked: a valid checksum, a bad flag, a truncation. */
export type Status = 'ok' | 'warn' | 'bad';

/** ExplainBits is one bit field broken out of a field, Wireshark style (`.1.. .... = DF`). */
export interface ExplainBits {
  /** Bit pattern over the whole field, `.` for bits outside this sub-field, grouped by 4. */
  pattern: string;
  /** Name of the sub-field, e.g. `DF (don't fragment)`. */
  name: string;
  /** Decoded value, e.g. `1 (set)`. */
  value: string;
  /** Set when the sub-field is checked against a rule. */
  status?: Status;
}

/** ExplainField is one header field: where it lies, its name and its decoded value. */
export interface ExplainField {
  /** Offset of the field's first byte within the frame. */
  offset: number;
  /** Field length in bytes. */
  length: number;
  /** Field name as the RFC spells it (lower case where the RFC is inconsistent). */
  name: string;
  /** Decoded value, human-readable. */
  value: string;
  /** A more specific reference than the layer's, e.g. `RFC 3168` for ECN. */
  ref?: string;
  /** Set when the field is checked: checksums, flags that must have a value. */
  status?: Status;
  /** Bit fields broken out of this field. */
  bits?: ExplainBits[];
}

/** ExplainNote is a remark on a layer: truncation, padding, a rule that was broken. */
export interface ExplainNote {
  /** The remark, a full sentence. */
  text: string;
  /** `info` for remarks, `warn` for odd-but-accepted, `bad` for broken frames. */
  level: 'info' | 'warn' | 'bad';
}

/** LayerRole says where in the encapsulation stack a layer sits. */
export type LayerRole = 'outer' | 'inner' | 'quoted' | '';

/** ExplainLayer is one protocol header (or a payload) with its fields. */
export interface ExplainLayer {
  /** Protocol name, e.g. `IPv4`, `VXLAN`, `Data`. */
  name: string;
  /** Position in the encapsulation: outer, inner, quoted (inside an ICMP error) or none. */
  role: LayerRole;
  /** The defining document, e.g. `RFC 791 §3.1`. */
  ref: string;
  /** Offset of the layer's first byte within the frame. */
  offset: number;
  /** Bytes the layer's fields cover (the header; for `Data`, the payload). */
  length: number;
  /** The fields, in wire order. */
  fields: ExplainField[];
  /** Remarks on this layer. */
  notes: ExplainNote[];
  /** Decoded header values, once the layer's fixed header lies within its enclosing packet. */
  info?: LayerInfo;
  /**
   * The first structural problem that stops a one-line summary at this layer, worded for it, e.g.
   * `truncated IPv4 header: need 20 bytes at 64, have 5` or `bad VXLAN flags 0x00`. Lengths are
   * checked against the enclosing packet (IP total length, UDP length), not only the capture.
   */
  problem?: string;
}

/** LinkInfo is what a link-layer header (Ethernet, Linux cooked, BSD loopback) says about its payload. */
export interface LinkInfo {
  kind: 'link';
  /** EtherType of the payload, after any 802.1Q/802.1ad tags (a length for 802.3 frames). */
  etherType: number;
  /** Offset of the payload. */
  payload: number;
  /** End of the enclosing packet (the capture, or an overlay's UDP payload). */
  end: number;
  /** Ethernet source and destination MAC. */
  src?: string;
  dst?: string;
  /** VLAN ID of the first 802.1Q/802.1ad tag. */
  vlan?: number;
}

/** Ipv4Info holds an IPv4 header's values. */
export interface Ipv4Info {
  kind: 'ipv4';
  src: string;
  dst: string;
  /** Total Length. */
  total: number;
  id: number;
  /** More Fragments flag. */
  mf: boolean;
  /** Fragment offset in bytes. */
  fragOffset: number;
  protocol: number;
  /** Bytes present from the header on, within the enclosing packet. */
  present: number;
}

/** Ipv6Info holds an IPv6 header's values and the outcome of its extension-header walk. */
export interface Ipv6Info {
  kind: 'ipv6';
  src: string;
  dst: string;
  /** 40 + Payload Length. */
  total: number;
  /** Bytes present from the header on, within the enclosing packet. */
  present: number;
  /** The upper-layer protocol after the extension headers. */
  protocol: number;
  /** Number of extension-header layers that follow this one in the layer list. */
  exts: number;
  /** Why the extension-header walk failed, and the Next Header value it was at. */
  extProblem?: string;
  extProblemNext?: number;
  /** A non-first fragment: offset in bytes and the fragment header's Next Header. */
  fragment?: { offset: number; protocol: number };
}

/** UdpInfo holds a UDP header's values and the overlay its port selected. */
export interface UdpInfo {
  kind: 'udp';
  sport: number;
  dport: number;
  /** The Length field. */
  length: number;
  /** Offset of the payload. */
  payload: number;
  /** End of the payload: the Length field, cut to the enclosing IP packet. */
  end: number;
  /** Bytes from the header to the end of the enclosing IP packet. */
  segment: number;
  /** The overlay the payload was decoded as, when the port is an overlay port. */
  overlay?: 'vxlan' | 'udp';
  /** Checksum state of an overlay datagram over IPv4 (src/wire/checksum-state.ts), when all of it is present. */
  checksum?: ChecksumState;
}

/** TcpInfo holds a TCP header's values. */
export interface TcpInfo {
  kind: 'tcp';
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  /** The eight control bits (CWR ECE URG ACK PSH RST SYN FIN). */
  flags: number;
  window: number;
  /** Segment bytes after the header, within the enclosing IP packet. */
  payloadLength: number;
  /** The options as tcpdump prints them (`mss 1410,sackOK,TS val 1 ecr 0,nop,wscale 7`), when present. */
  options?: string;
}

/** IcmpInfo holds an ICMP header's values. */
export interface IcmpInfo {
  kind: 'icmp';
  type: number;
  code: number;
  /** Length of the ICMP message as the IP header gives it (tcpdump's `length`). */
  length: number;
  /** The 32-bit word after the checksum (echo id/seq, next-hop MTU), when present. */
  rest?: number;
}

/** Icmpv6Info holds an ICMPv6 header's values. */
export interface Icmpv6Info {
  kind: 'icmpv6';
  type: number;
  code: number;
  /** Length of the ICMPv6 message as the IP header gives it (tcpdump's `length`). */
  length: number;
  /** The 32-bit word after the checksum (echo id/seq, packet-too-big MTU), when present. */
  rest?: number;
  /** Neighbor solicitation/advertisement target address. */
  target?: string;
}

/** ArpInfo holds an ARP packet's values (addresses only for a complete Ethernet/IPv4 ARP). */
export interface ArpInfo {
  kind: 'arp';
  htype: number;
  ptype: number;
  hlen: number;
  plen: number;
  op: number;
  sha?: string;
  spa?: string;
  tpa?: string;
}

/**
 * VxlanInfo holds a VXLAN header's values, set only when the header is valid (so a `problem` on a
 * VXLAN layer with `info` is about the missing inner frame).
 */
export interface VxlanInfo {
  kind: 'vxlan';
  flags: number;
  vni: number;
  /** Any reserved bit is set (RFC 7348 §5 says ignore them; Linux drops such frames). */
  reserved: boolean;
  /**
   * Remote Checksum Offload fields (draft-herbert-vxlan-rco), when the C flag is set: checksum
   * coverage start (bytes after the VXLAN header) and the field's offset from it (16 TCP, 6 UDP).
   */
  rco?: { start: number; offset: number };
}

/** LayerInfo is the decoded-values part of a layer, by protocol. */
export type LayerInfo =
  LinkInfo | Ipv4Info | Ipv6Info | UdpInfo | TcpInfo | IcmpInfo | Icmpv6Info | ArpInfo | VxlanInfo;

/** OverlayInfo locates the encapsulation inside the frame, when there is one. */
export interface OverlayInfo {
  /** `vxlan` (RFC 7348) or `udp` (flannel-UDP: raw IP in UDP). */
  kind: 'vxlan' | 'udp';
  /** VNI, for VXLAN. */
  vni?: number;
  /** Sizes of the outer headers in order, e.g. `[['Ethernet', 14], ['IPv4', 20], ...]`. */
  outer: Array<[string, number]>;
  /** Offset of the inner frame (VXLAN: inner Ethernet; flannel-UDP: inner IP). */
  innerOffset: number;
  /** Length of the inner frame as carried in this capture. */
  innerLength: number;
  /** Inner IP packet length (0 when there is none). */
  innerIpLength: number;
}

/** Explanation is the whole decoded frame. */
export interface Explanation {
  /** Frame length in bytes. */
  length: number;
  /** What the first byte is, e.g. `Ethernet (1)`. */
  linkName: string;
  /** Layers in frame order. */
  layers: ExplainLayer[];
  /** The encapsulation, when the frame is a VXLAN or flannel-UDP frame. */
  overlay?: OverlayInfo;
  /** The closing summary lines (overhead, layer sizes). */
  summary: string[];
  /**
   * What was recorded. `full`: everything above. `summary`: the layers with their name, role, ref,
   * offset, `info` and `problem` only; `fields`, `notes` and `summary` are empty, every `length`
   * is 0 and there is no `overlay`. Render the byte view only from a `full` decode.
   */
  detail: DecodeDetail;
}

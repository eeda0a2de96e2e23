/**
 * The structured result of `explainFrameRows`: layers of annotated fields, byte range by byte range.
 *
 * Design notes: the decoder (decode.ts) produces this plain data and the renderer (render.ts) turns
 * it into text, so `weft explain`, `weft capture --explain` and tests share one decoder and tests
 * can assert on fields instead of scraping text.
 */

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
}

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
}

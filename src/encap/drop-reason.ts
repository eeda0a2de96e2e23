/**
 * Drop reasons and anomaly counters for the packet path.
 *
 * Design notes: per-packet failures never throw; the code that rejects a packet increments
 * exactly one slot of a `DropCounters` array and moves on. Slots are dense small integers so the
 * counters are a plain Float64Array (doubles count exactly to 2^53, far past any uptime), which a
 * Prometheus collector reads on scrape using `DROP_REASON_NAMES` as the `reason` label.
 * Anomalies are frames that were accepted but looked odd (e.g. VXLAN reserved bits set, which
 * RFC 7348 §5 says to ignore); they are counted separately so "accepted + dropped == received"
 * stays true.
 */

/** DropReason maps each reason to its counter slot. Append new reasons at the end; never renumber. */
export const DropReason = {
  /** Datagram shorter than the smallest valid frame (VXLAN: 8 + 14; flannel-UDP: 20). */
  tooShort: 0,
  /** VXLAN "I" flag clear (RFC 7348 §5: the VNI is not valid). */
  badVxlanFlags: 1,
  /** VXLAN VNI is not ours. */
  badVni: 2,
  /** Inner Ethernet destination is not our VTEP MAC (kernel: PACKET_OTHERHOST). */
  badInnerDstMac: 3,
  /** Inner Ethernet source is our own VTEP MAC (kernel: "ignore packet loops"). */
  ownInnerSrcMac: 4,
  /** Inner EtherType is neither IPv4 nor IPv6 (this includes 802.1Q-tagged frames, RFC 7348 §6.1). */
  badEthertype: 5,
  /** Inner IP header invalid: version/EtherType mismatch, IHL, or length beyond the frame. */
  badInnerIp: 6,
  /** Outer source address is not a known peer. */
  unknownSource: 7,
  /** No route for the inner destination. */
  noRoute: 8,
  /** TTL / hop limit would reach 0. */
  ttlExpired: 9,
  /** Packet larger than the path allows (DF set, or VXLAN which must not fragment). */
  tooBig: 10,
  /** IP version nibble is neither 4 nor 6. */
  badIpVersion: 11,
  /** The route's peer speaks the other backend. */
  peerBackendMismatch: 12,
  /** Writing to the TUN device failed. */
  tunWriteError: 13,
  /** Sending on the UDP socket failed. */
  sendError: 14,
  /** Outer IPv4 header invalid (raw/pcap paths that see the outer header). */
  badOuterIp: 15,
  /** Outer UDP header invalid or not UDP (raw/pcap paths). */
  badOuterUdp: 16,
  /** Outer UDP checksum non-zero and wrong (RFC 7348 §5: MUST drop). */
  badUdpChecksum: 17,
  /** Outer UDP destination port is not the overlay port (raw/pcap paths). */
  wrongPort: 18,
  /** Outer packet is an IP fragment (RFC 7348 §4.3 lets the destination VTEP drop these). */
  outerFragment: 19,
  /** Datagram larger than the receive slot; the socket cut it short (also counted as rxTruncated). */
  oversized: 20,
  /** Inner TCP segment with a complete but wrong checksum, found while coalescing (its neighbours pass). */
  badInnerChecksum: 21,
  /** Datagram lost in the `--io dgram` receive queue before a batch took it (also counted as rxDropped). */
  rxQueueFull: 22,
  /** VXLAN RCO flag set while `--vxlan-rco` is off (Linux without remcsumrx drops these too). */
  vxlanRcoDisabled: 23,
  /** VXLAN RCO fields that do not name the inner TCP/UDP checksum field (draft-herbert-vxlan-rco). */
  badVxlanRco: 24,
  /**
   * A packet from the TUN to a link-scope destination (IPv6 fe80::/10, ff01::/16, ff02::/16; IPv4
   * 224.0.0.0/24, 255.255.255.255): the TUN's own neighbour discovery, MLD or router
   * solicitations, never forwarded by a router. Kept apart from `noRoute`, which means a missing lease.
   */
  linkScope: 25,
} as const;

/** DropReasonName is one of the camelCase keys of `DropReason`. */
export type DropReasonName = keyof typeof DropReason;

/** DROP_REASON_COUNT is the number of drop reasons, i.e. the length of a `DropCounters` array. */
export const DROP_REASON_COUNT = Object.keys(DropReason).length;

/** DROP_REASON_NAMES maps a slot to its snake_case name (Prometheus label value). */
export const DROP_REASON_NAMES: readonly string[] = Object.freeze(namesBySlot(DropReason, DROP_REASON_COUNT));

/** DropCounters holds one count per drop reason, indexed by `DropReason` values. */
export type DropCounters = Float64Array;

/** newDropCounters allocates a zeroed `DropCounters` array. */
export function newDropCounters(): DropCounters {
  return new Float64Array(DROP_REASON_COUNT);
}

/** Anomaly maps each accepted-but-odd condition to its counter slot. Append only. */
export const Anomaly = {
  /** VXLAN reserved flag bits or reserved fields non-zero; accepted per RFC 7348 §5. */
  vxlanReservedBitsSet: 0,
  /** Inner frame longer than its IP packet (Ethernet padding); the IP length is used. */
  innerPadding: 1,
} as const;

/** AnomalyName is one of the camelCase keys of `Anomaly`. */
export type AnomalyName = keyof typeof Anomaly;

/** ANOMALY_COUNT is the number of anomaly kinds, i.e. the length of an `AnomalyCounters` array. */
export const ANOMALY_COUNT = Object.keys(Anomaly).length;

/** ANOMALY_NAMES maps a slot to its snake_case name. */
export const ANOMALY_NAMES: readonly string[] = Object.freeze(namesBySlot(Anomaly, ANOMALY_COUNT));

/** AnomalyCounters holds one count per anomaly kind, indexed by `Anomaly` values. */
export type AnomalyCounters = Float64Array;

/** newAnomalyCounters allocates a zeroed `AnomalyCounters` array. */
export function newAnomalyCounters(): AnomalyCounters {
  return new Float64Array(ANOMALY_COUNT);
}

/** sumCounters returns the total of a counter array (all drops, or all anomalies). */
export function sumCounters(c: Float64Array): number {
  let s = 0;
  for (let i = 0; i < c.length; i++) s += c[i];
  return s;
}

/** countersToObject renders counters as `{ snake_name: count }`, for logs and CLI output. */
export function countersToObject(c: Float64Array, names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < names.length; i++) out[names[i]] = c[i];
  return out;
}

function namesBySlot(obj: Record<string, number>, n: number): string[] {
  const names = new Array<string>(n);
  for (const [k, v] of Object.entries(obj)) names[v] = k.replace(/[A-Z]/g, (m) => '_' + m.toLowerCase());
  return names;
}

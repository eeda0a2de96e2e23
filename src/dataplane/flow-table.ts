/**
 * flow-table: per-flow packet and byte counters for debugging (`weft run --debug`,
 * `weft link --debug`), read by `/debug/flows` and `weft trace`.
 *
 * The key is the inner IPv4 flow key of src/wire/flow-key.ts, the one src/encap/flow-hash.ts
 * hashes: the 5-tuple {src, dst, protocol, src port, dst port} for TCP, UDP and SCTP, and the
 * 3-tuple {src, dst, protocol} for every other protocol and for fragments (later fragments carry
 * no ports). The table is a fixed number of slots
 * (power of two) of open addressing with linear probing, stored column-wise in typed arrays:
 * recording a packet allocates nothing and never grows anything. A packet whose flow finds
 * neither its slot nor a free one within FLOW_MAX_PROBE slots (the table is full, or that
 * neighbourhood is), and every non-IPv4 packet, is counted in the `other` bucket instead.
 * Entries are never evicted: the table shows the first flows seen, with exact counts, plus how
 * much traffic did not fit.
 *
 * The hot paths hold a `FlowTable | null` and test it once per packet, so a node without
 * `--debug` pays one predictable branch.
 */
import { u32ToIpv4 } from '../net/addr';
import { flowPortsAtIpv4 } from '../wire/flow-key';
import {
  IPV4_MIN_HEADER_SIZE,
  IPV4_OFF_PROTOCOL,
  IPV4_VERSION,
  ipVersion,
  ipv4DstI32,
  ipv4SrcI32,
  readI32,
} from '../wire/ipv4';

/** FLOW_TABLE_SLOTS is the default table size. */
export const FLOW_TABLE_SLOTS = 4096;
/** FLOW_MAX_PROBE bounds the slots one packet may inspect, so a full table costs no more than this. */
export const FLOW_MAX_PROBE = 16;

/** FlowEntry is one flow as /debug/flows shows it. */
export interface FlowEntry {
  src: string;
  dst: string;
  proto: number;
  /** 0 for protocols without ports (3-tuple flows). */
  sport: number;
  dport: number;
  /** The peer's public IPv4: egress = where it was sent, ingress = the VTEP it came from. */
  peer: string;
  packets: number;
  bytes: number;
}

/** FlowTableSnapshot is one direction of /debug/flows. */
export interface FlowTableSnapshot {
  capacity: number;
  /** Slots in use (distinct flows seen). */
  used: number;
  /** Flows in the response: the top N by bytes (after the optional address filter). */
  flows: FlowEntry[];
  /** Packets and bytes that were not IPv4 or found no slot. */
  other: { packets: number; bytes: number };
}

/** FlowTable counts packets and bytes per inner flow; see the module comment. */
export class FlowTable {
  /** Number of slots. */
  readonly capacity: number;
  /** Slots in use. */
  used = 0;
  /** Packets counted in the `other` bucket (not IPv4, or no slot). */
  otherPackets = 0;
  /** Bytes counted in the `other` bucket. */
  otherBytes = 0;

  private readonly mask: number;
  private readonly inUse: Uint8Array;
  private readonly srcs: Int32Array;
  private readonly dsts: Int32Array;
  private readonly portPairs: Int32Array;
  private readonly protos: Uint8Array;
  private readonly peers: Int32Array;
  private readonly packets: Float64Array;
  private readonly bytes: Float64Array;

  /** FlowTable allocates `slots` (rounded up to a power of two) slots once. */
  constructor(slots = FLOW_TABLE_SLOTS) {
    let cap = 1;
    while (cap < slots) cap <<= 1;
    this.capacity = cap;
    this.mask = cap - 1;
    this.inUse = new Uint8Array(cap);
    this.srcs = new Int32Array(cap);
    this.dsts = new Int32Array(cap);
    this.portPairs = new Int32Array(cap);
    this.protos = new Uint8Array(cap);
    this.peers = new Int32Array(cap);
    this.packets = new Float64Array(cap);
    this.bytes = new Float64Array(cap);
  }

  /**
   * record counts the IP packet at buf[off..off+len) for peer `peerU32` (host-order IPv4).
   * Hot path: no allocation, int32 arithmetic only, at most FLOW_MAX_PROBE slots inspected.
   */
  record(buf: Uint8Array, off: number, len: number, peerU32: number): void {
    if (len < IPV4_MIN_HEADER_SIZE || ipVersion(buf, off) !== IPV4_VERSION) {
      this.otherPackets++;
      this.otherBytes += len;
      return;
    }
    const s = ipv4SrcI32(buf, off);
    const d = ipv4DstI32(buf, off);
    const proto = buf[off + IPV4_OFF_PROTOCOL]!;
    const p = flowPortsAtIpv4(buf, off, len);
    const ports = p < 0 ? 0 : readI32(buf, p);
    // A murmur-style mix; every key bit reaches the low bits used as the index.
    let h = Math.imul(s, 0x9e3779b1) ^ d;
    h = Math.imul(h ^ (h >>> 15), 0x85ebca6b) ^ ports;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) ^ proto;
    h ^= h >>> 16;
    const mask = this.mask;
    const inUse = this.inUse;
    for (let i = 0; i < FLOW_MAX_PROBE; i++) {
      const k = (h + i) & mask;
      if (inUse[k] === 0) {
        inUse[k] = 1;
        this.srcs[k] = s;
        this.dsts[k] = d;
        this.portPairs[k] = ports;
        this.protos[k] = proto;
        this.peers[k] = peerU32 | 0;
        this.packets[k] = 1;
        this.bytes[k] = len;
        this.used++;
        return;
      }
      if (
        this.srcs[k] === s &&
        this.dsts[k] === d &&
        this.portPairs[k] === ports &&
        this.protos[k] === proto
      ) {
        this.packets[k]++;
        this.bytes[k] += len;
        return;
      }
    }
    this.otherPackets++;
    this.otherBytes += len;
  }

  /**
   * snapshot returns the `top` flows by bytes (control path; allocates). With `ip`, only flows
   * whose source or destination is that address (host-order u32) are considered.
   */
  snapshot(top = 50, ip?: number): FlowTableSnapshot {
    const want = ip === undefined ? 0 : ip | 0;
    const idx: number[] = [];
    for (let k = 0; k < this.capacity; k++) {
      if (this.inUse[k] === 0) continue;
      if (ip !== undefined && this.srcs[k] !== want && this.dsts[k] !== want) continue;
      idx.push(k);
    }
    idx.sort((a, b) => this.bytes[b]! - this.bytes[a]! || this.packets[b]! - this.packets[a]!);
    const flows = idx.slice(0, Math.max(0, top)).map((k): FlowEntry => ({
      src: u32ToIpv4(this.srcs[k]! >>> 0),
      dst: u32ToIpv4(this.dsts[k]! >>> 0),
      proto: this.protos[k]!,
      sport: this.portPairs[k]! >>> 16,
      dport: this.portPairs[k]! & 0xffff,
      peer: u32ToIpv4(this.peers[k]! >>> 0),
      packets: this.packets[k]!,
      bytes: this.bytes[k]!,
    }));
    return {
      capacity: this.capacity,
      used: this.used,
      flows,
      other: { packets: this.otherPackets, bytes: this.otherBytes },
    };
  }
}

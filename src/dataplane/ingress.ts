/**
 * ingress: the per-packet stages of the UDP -> TUN direction, shared by both loops that drive them:
 * PlainIngress (ingress-plain.ts: one datagram per slot, plain TUN writes) and OffloadIngress
 * (ingress-offload.ts: UDP GRO trains split first, TCP segments coalesced after).
 *
 * Stages (functions below appear in this order; 1, 5 and 6 are the loops'):
 *   1. receive  (loop) one native receive into a PacketBatch: payload behind HEADROOM, the sender's
 *               IPv4 and port in addrs/ports (recvmmsg in batch mode; GRO trains split, no copy).
 *   2. source   the outer source must be the public IP of a known peer    -> unknownSource
 *               (the kernel's VXLAN accepts anyone with nolearning; we don't: a frame from an
 *               address no lease names is dropped before it is parsed)
 *               (checked once per run of datagrams from one sender: a GRO train's datagrams
 *               all carry its address, and the table does not change within a batch)
 *   3. decap    VXLAN: `vxlanDecap` checks flags, VNI, inner MACs, EtherType, inner IP
 *               (one drop reason each, anomalies counted separately), through `VxlanDecapper`
 *               (the common frame recognised from a few header words, the rest as before);
 *               flannel-UDP: `flannelUdpDecap` checks the inner IP header
 *   4. describe rewrite descriptor `out` (<= i): offset = inner IP packet, length = rest of frame
 *   5. checksum (loop) inner TCP/UDP checksums a kernel sender left partial (src/offload/
 *               partial-csum.ts): PlainIngress completes them (and cuts a sender's unsegmented
 *               TSO packet to the TUN MTU); OffloadIngress hands them to the TUN with NEEDS_CSUM,
 *               or coalesces TCP segments into super-packets
 *   6. write    (loop) ONE `tun.writeBatch`; refused packets count as tunWriteError and are taken
 *               back out of `packets` / `bytes`.
 * Counting: every datagram the socket hands over is either delivered (`packets`) or dropped under
 * exactly one reason (socket discards are charged by the loop, socket-recv-loop.ts). With `flows`
 * set (`--debug`), stage 4 also counts each accepted packet in its flow (flow-table.ts).
 *
 * flannel's UDP proxy also decrements TTL on receive (so an overlay hop costs two); weft
 * decrements once, on send, which is all the wire format requires.
 *
 * Ownership: the batch belongs to the loop and is borrowed for one `processBatch` call. No
 * allocation and no await per packet.
 */
import type { Router } from '../route/router';
import { DropReason, type AnomalyCounters, type DropCounters } from '../encap/drop-reason';
import { flannelUdpDecap } from '../encap/flannel-udp';
import { VxlanDecapper } from '../encap/vxlan-decapper';
import { VXLAN_FLAG_RCO, VXLAN_OFF_RCO_FLAG } from '../wire/vxlan';
import type { VxlanConfig } from '../encap/vxlan-config';
import type { Backend } from '../route/peer';
import type { PacketBatch } from '../io/packet-batch';
import type { FlowTable } from './flow-table';

/** IngressConfig is what the ingress path needs to know about this node. */
export interface IngressConfig {
  /** Our encapsulation; decides which decapsulator runs. */
  backend: Backend;
  /** VXLAN settings: the VNI and VTEP MAC frames must carry. */
  vxlan: VxlanConfig;
}

/** IngressStages runs stages 2-4 on a batch of received datagrams; see the stage list above. */
export class IngressStages {
  /** Inner packets handed to the TUN (the loops take back what the TUN refused). */
  packets = 0;
  /** Inner bytes handed to the TUN. */
  bytes = 0;
  /** Per-flow counters (`--debug`), or null: then stage 4 skips them with one branch. */
  flows: FlowTable | null = null;
  /** Accepted VXLAN frames that carried RCO fields (`--vxlan-rco`). */
  rcoFrames = 0;
  private readonly decapper: VxlanDecapper;

  /** IngressStages checks sources against `router`'s current table and decapsulates per `cfg`. */
  constructor(
    private readonly router: Router,
    private readonly cfg: IngressConfig,
    /** Drop counters of this direction, indexed by DropReason. */
    readonly drops: DropCounters,
    /** Accepted-but-odd frames, indexed by Anomaly. */
    readonly anomalies: AnomalyCounters,
  ) {
    this.decapper = new VxlanDecapper(cfg.vxlan);
  }

  /**
   * processBatch runs stages 2-4 on `batch` in place: afterwards descriptors [0, count) describe
   * inner IP packets ready for the TUN. Returns the count.
   */
  processBatch(batch: PacketBatch): number {
    const buf = batch.buffer;
    const offsets = batch.offsets;
    const lengths = batch.lengths;
    const addrs = batch.addrs;
    const n = batch.count;
    const drops = this.drops;
    const anomalies = this.anomalies;
    const table = this.router.table;
    const isVxlan = this.cfg.backend === 'vxlan';
    const decapper = this.decapper;
    const flows = this.flows;
    let out = 0;
    let bytes = 0;
    // The last source found in the table (as int32), once there is one.
    let known = 0;
    let knownValid = false;
    for (let i = 0; i < n; i++) {
      const off = offsets[i]!;
      const len = lengths[i]!;
      // Stage 2: only known VTEPs.
      const from = addrs[i]!;
      if (!knownValid || (from | 0) !== known) {
        if (table.findPeerBySource(from) === undefined) {
          drops[DropReason.unknownSource]++;
          continue;
        }
        known = from | 0;
        knownValid = true;
      }
      // Stage 3: decapsulate in place.
      const inner = isVxlan
        ? decapper.decap(buf, off, len, drops, anomalies)
        : flannelUdpDecap(buf, off, len, drops);
      if (inner < 0) continue;
      if (isVxlan && (buf[off + VXLAN_OFF_RCO_FLAG]! & VXLAN_FLAG_RCO) !== 0) this.rcoFrames++;
      // Stage 4.
      const innerLen = len - (inner - off);
      offsets[out] = inner;
      lengths[out] = innerLen;
      out++;
      bytes += innerLen;
      if (flows !== null) flows.record(buf, inner, innerLen, from);
    }
    batch.count = out;
    this.packets += out;
    this.bytes += bytes;
    return out;
  }
}

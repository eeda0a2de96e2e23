/**
 * egress: the per-packet stages of the TUN -> UDP direction, shared by both loops that drive them:
 * PlainEgress (egress-plain.ts: one IP packet per TUN read) and OffloadEgress (egress-offload.ts:
 * TUN TSO super-packets cut into segments first, UDP GSO trains built after).
 *
 * Stages (functions below appear in this order; 1, 7 and the offload steps are the loops'):
 *   1. read    (loop) one native TUN read into a PacketBatch: each IP packet behind HEADROOM (128)
 *              bytes of its slot (offload: segments behind `prefix` bytes in a segment region).
 *   2. check   per packet: length and IP version                      -> tooShort / badIpVersion
 *   3. route   `router.lookupV4(dst)` / `lookupV6(buf, off + IPV6_OFF_DST)` -> noRoute, or
 *              linkScope for an unrouted link-scope destination (wire/ip.ts isLinkScopeDst)
 *              (flannel-UDP also writes ICMP net-unreachable back into the TUN, as flannel's proxy)
 *              the peer must speak our backend                        -> peerBackendMismatch
 *   4. size    longer than the path MTU with DF set (or IPv6)          -> tooBig
 *              (IPv4: ICMP fragmentation-needed with the path MTU back into the TUN)
 *   5. encap   in place: `vxlanEncap` writes VXLAN + inner Ethernet (dst = peer's VTEP MAC) into
 *              the headroom; `flannelUdpEncap` decrements TTL              -> ttlExpired
 *              With `outer` set (`--src-port flow`, VXLAN only), also the outer IPv4 + UDP header
 *              (`writeOuterIPv4Udp`: DF clear, TTL 64, ID counter, UDP checksum 0, source port =
 *              `flowSourcePort` of the inner packet in [min, max]) for the raw send socket.
 *              With `vxlan.rco` (`--vxlan-rco`), a packet whose inner TCP/UDP checksum is partial
 *              gets the RCO fields in its VXLAN header (`markRcoIfPartial`, offload/vxlan-rco.ts).
 *              With `lanes` > 1 (`--src-port flow` on a source-port pool), instead the lane
 *              `batch.lanes[out]` = the inner flow's hash in [0, lanes): the pool socket, hence
 *              the source port, it leaves from (src/io/src-port-pool.ts); kept as the caller
 *              wrote it when `lanesSet` (the offload egress hashes a super-packet once).
 *   5r. run    (offload egress, plain VXLAN) the other segments of a super-packet whose first one
 *              was forwarded: the first one's 22 bytes copied in front of each, same peer, port
 *              and lane; no second route lookup (counted as the cache hit it would have been)
 *   6. describe  rewrite descriptor `out` (<= i, so already consumed): offset = new start,
 *              length = UDP payload (whole IPv4 datagram with `outer`), addr = peer's public IPv4,
 *              port = overlay port. ICMP replies go out in ONE `tun.writeBatch(replies)`.
 *   7. send    (loop) ONE native send of the batch (offload: sendmmsg with UDP_SEGMENT).
 * With `flows` set (`--debug`), stage 6 also counts each forwarded packet in its flow (flow-table.ts).
 *
 * Ownership: `replies` is allocated once in the constructor and owned by this object; the batch
 * belongs to the loop and is borrowed for one `processBatch` call. No allocation and no await per
 * packet; drops are `continue` plus one counter slot.
 */
import type { Backend, Peer } from '../route/peer';
import type { Router } from '../route/router';
import { DropReason, type DropCounters } from '../encap/drop-reason';
import { flannelUdpEncap } from '../encap/flannel-udp';
import { flowSourcePort } from '../encap/flow-hash';
import { buildIcmpFragNeeded, buildIcmpNetUnreachable, ICMP_REPLY_MAX_SIZE } from '../encap/icmp-reply';
import { writeOuterIPv4Udp } from '../encap/outer';
import type { VxlanConfig } from '../encap/vxlan-config';
import { VXLAN_ENCAP_SIZE } from '../encap/constants';
import { vxlanEncap } from '../encap/vxlan-encap';
import { markRcoIfPartial } from '../offload/vxlan-rco';
import { PacketBatch } from '../io/packet-batch';
import {
  IPV4_MIN_HEADER_SIZE,
  IPV4_VERSION,
  ipVersion,
  ipv4Dst,
  ipv4DstI32,
  ipv4DontFragment,
} from '../wire/ipv4';
import { IPV6_HEADER_SIZE, IPV6_OFF_DST, IPV6_VERSION } from '../wire/ipv6';
import { isLinkScopeDst } from '../wire/ip';
import { ViewCache } from '../wire/view-cache';
import type { TunDevice } from '../io/tun-device';
import type { FlowTable } from './flow-table';

/** REPLY_SLOTS bounds the ICMP replies per batch; further misses in the same batch are only counted. */
const REPLY_SLOTS = 16;

/** EgressConfig is what the egress path needs to know about this node. */
export interface EgressConfig {
  /** Our encapsulation; routes to a peer of the other backend are dropped. */
  backend: Backend;
  /** VXLAN settings (VNI, our VTEP MAC); ignored for flannel-UDP. */
  vxlan: VxlanConfig;
  /** Destination UDP port at every peer (flannel: all nodes share one port). */
  port: number;
  /** Largest inner packet the underlay carries unfragmented: underlay MTU - 50 (VXLAN) or - 28 (UDP). */
  pathMtu: number;
  /**
   * Flow-hashed outer source ports (`--src-port flow`, VXLAN only): egress writes the outer IPv4 +
   * UDP header itself and `io` must be a raw IPv4 socket (RawSendSocket). Absent/null: the UDP
   * socket adds the headers and every frame leaves from its bound port.
   */
  outer?: EgressOuter | null;
  /**
   * Source-port pool size (`--src-port flow` with `--io batch`): > 1 makes stage 6 write each
   * descriptor's lane from the inner flow's hash. Absent/0/1: no lanes.
   */
  lanes?: number;
}

/** EgressOuter configures the outer headers egress writes in `--src-port flow` mode. */
export interface EgressOuter {
  /** Outer IPv4 source (our underlay address, host-order u32). */
  localU32: number;
  /** Inclusive UDP source port range the inner flows are hashed into (default 49152-65535). */
  srcPortMin: number;
  srcPortMax: number;
}

/** EgressStages runs stages 2-6 on a batch of IP packets; see the stage list above. */
export class EgressStages {
  /** Packets handed to the socket (inner packets). */
  packets = 0;
  /** Inner bytes handed to the socket. */
  bytes = 0;
  /** ICMP errors written back into the TUN. */
  icmpReplies = 0;
  /** Per-flow counters (`--debug`), or null: then stage 6 skips them with one branch. */
  flows: FlowTable | null = null;
  /** Frames sent with VXLAN RCO fields (`--vxlan-rco`: their inner checksum left partial). */
  rcoFrames = 0;

  private readonly replies: PacketBatch;
  private readonly views = new ViewCache();

  /**
   * EgressStages routes with `router` (read on every packet, so `router.swap` takes effect at the
   * next packet) and writes ICMP errors to `tun`. Drops go to `drops` (shared or per direction).
   */
  constructor(
    private readonly tun: Pick<TunDevice, 'writeBatch'>,
    private readonly router: Router,
    private readonly cfg: EgressConfig,
    /** Drop counters of this direction, indexed by DropReason. */
    readonly drops: DropCounters,
  ) {
    this.replies = PacketBatch.forPacketSize(REPLY_SLOTS, ICMP_REPLY_MAX_SIZE);
  }

  /** pathMtu is the largest inner packet sent unfragmented (stage 4's limit). */
  get pathMtu(): number {
    return this.cfg.pathMtu;
  }

  /**
   * setPathMtu changes stage 4's limit from the next batch on (control path: the underlay MTU
   * changed). Larger DF packets then get ICMP fragmentation-needed, as kernel VXLAN's PMTU check
   * does; larger packets without DF leave fragmented.
   */
  setPathMtu(pathMtu: number): void {
    this.cfg.pathMtu = pathMtu;
  }

  /**
   * laneMax is the largest pool lane stage 6 writes (the pool size - 1, VXLAN only), or 0 when
   * descriptors get no lane.
   */
  get laneMax(): number {
    const cfg = this.cfg;
    return cfg.backend === 'vxlan' && cfg.lanes !== undefined && cfg.lanes > 1 ? cfg.lanes - 1 : 0;
  }

  /**
   * processBatch runs stages 2-6 on `batch` in place: afterwards `batch.count` descriptors
   * describe UDP payloads to send, and any ICMP replies are written to the TUN. Returns the count.
   * `lanesSet`: the caller already wrote each descriptor's lane (`flowSourcePort(.., 0, laneMax)`
   * of its inner packet, e.g. once for all segments of a super-packet); stage 6 keeps it.
   * `runs` (stage 5r): `runs[i]` = r >= 2 says descriptors [i, i + r) are the segments of one
   * super-packet: inner headers equal in every field stages 2-5 read (version, destination, DF),
   * so one decision holds for all of them. When descriptor i is forwarded, each following member of
   * the same length gets its first's VXLAN header and descriptor without being routed again (its
   * lookup counted as the cache hit it would have been); a dropped first, or a member of another
   * length, goes through the stages on its own. Ignored with `outer` or RCO.
   */
  processBatch(batch: PacketBatch, lanesSet = false, runs: Uint16Array | null = null): number {
    const buf = batch.buffer;
    const offsets = batch.offsets;
    const lengths = batch.lengths;
    const addrs = batch.addrs;
    const ports = batch.ports;
    const n = batch.count;
    const drops = this.drops;
    const router = this.router;
    const cfg = this.cfg;
    const isVxlan = cfg.backend === 'vxlan';
    const pathMtu = cfg.pathMtu;
    const port = cfg.port;
    const flows = this.flows;
    const outer = isVxlan ? (cfg.outer ?? null) : null;
    const rco = isVxlan && cfg.vxlan.rco;
    const laneMax = this.laneMax;
    const lanes = batch.lanes;
    // Runs are taken only where stage 5 writes the same bytes for every member (plain VXLAN).
    const sameRun = runs !== null && isVxlan && outer === null && !rco ? runs : null;
    this.replies.count = 0;
    let out = 0;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const off = offsets[i]!;
      const len = lengths[i]!;
      if (len === 0) {
        drops[DropReason.tooShort]++;
        continue;
      }
      // Stage 2-3: version, then route on the destination address.
      const version = ipVersion(buf, off);
      let peer: Peer | undefined;
      if (version === IPV4_VERSION) {
        if (len < IPV4_MIN_HEADER_SIZE) {
          drops[DropReason.tooShort]++;
          continue;
        }
        peer = router.lookupV4(ipv4DstI32(buf, off));
      } else if (version === IPV6_VERSION) {
        if (len < IPV6_HEADER_SIZE) {
          drops[DropReason.tooShort]++;
          continue;
        }
        peer = router.lookupV6(buf, off + IPV6_OFF_DST);
      } else {
        drops[DropReason.badIpVersion]++;
        continue;
      }
      if (peer === undefined) {
        if (isLinkScopeDst(buf, off, version)) {
          drops[DropReason.linkScope]++;
          continue;
        }
        drops[DropReason.noRoute]++;
        if (!isVxlan && version === IPV4_VERSION) this.reply(buf, off, len, 0);
        continue;
      }
      if (peer.backend !== cfg.backend) {
        drops[DropReason.peerBackendMismatch]++;
        continue;
      }
      // Stage 4: never let the kernel fragment a DF packet behind the sender's back.
      if (len > pathMtu && (version === IPV6_VERSION || ipv4DontFragment(buf, off))) {
        drops[DropReason.tooBig]++;
        if (version === IPV4_VERSION) this.reply(buf, off, len, pathMtu);
        continue;
      }
      // Stage 5: encapsulate in place.
      let start: number;
      if (isVxlan) {
        start = vxlanEncap(buf, off, len, peer.vtepMac!, cfg.vxlan);
        if (rco && markRcoIfPartial(buf, start, off, len)) this.rcoFrames++;
        if (outer !== null) {
          const sport = flowSourcePort(buf, off, len, outer.srcPortMin, outer.srcPortMax);
          start = writeOuterIPv4Udp(
            buf,
            start,
            off + len - start,
            outer.localU32,
            peer.publicIpU32,
            sport,
            port,
          );
        }
      } else {
        start = flannelUdpEncap(buf, off, len, drops);
        if (start < 0) continue;
      }
      // Stage 6: descriptor `out` <= i has already been read.
      offsets[out] = start;
      lengths[out] = off + len - start;
      addrs[out] = peer.publicIpU32;
      ports[out] = port;
      if (laneMax > 0) lanes[out] = lanesSet ? lanes[i]! : flowSourcePort(buf, off, len, 0, laneMax);
      out++;
      bytes += len;
      if (flows !== null) flows.record(buf, off, len, peer.publicIpU32);
      // Stage 5r: the rest of a run decided by its first descriptor (see `processBatch`).
      const run = sameRun === null ? 0 : sameRun[i]!;
      if (run < 2) continue;
      const ipAddr = peer.publicIpU32;
      const lane = lanes[out - 1]!;
      const last = Math.min(n, i + run) - 1;
      const first = i;
      // The 22 bytes as 5 words and a half: a DataView access is a load, a byte loop ten times more.
      const dv = this.views.of(buf);
      const w0 = dv.getInt32(start);
      const w1 = dv.getInt32(start + 4);
      const w2 = dv.getInt32(start + 8);
      const w3 = dv.getInt32(start + 12);
      const w4 = dv.getInt32(start + 16);
      const h5 = dv.getUint16(start + 20);
      while (i < last && lengths[i + 1] === len) {
        i++;
        const o = offsets[i]!;
        const s = o - VXLAN_ENCAP_SIZE;
        dv.setInt32(s, w0);
        dv.setInt32(s + 4, w1);
        dv.setInt32(s + 8, w2);
        dv.setInt32(s + 12, w3);
        dv.setInt32(s + 16, w4);
        dv.setUint16(s + 20, h5);
        offsets[out] = s;
        lengths[out] = len + VXLAN_ENCAP_SIZE;
        addrs[out] = ipAddr;
        ports[out] = port;
        if (laneMax > 0) lanes[out] = lanesSet ? lanes[i]! : lane;
        out++;
        bytes += len;
        if (flows !== null) flows.record(buf, o, len, ipAddr);
      }
      if (version === IPV4_VERSION) router.countCachedLookups(i - first);
    }
    batch.count = out;
    this.packets += out;
    this.bytes += bytes;
    if (this.replies.count > 0) {
      const w = this.tun.writeBatch(this.replies, 0, this.replies.count);
      this.icmpReplies += w;
      drops[DropReason.tunWriteError] += this.replies.count - w;
    }
    return out;
  }

  /** reply queues an ICMP error (net unreachable when mtu is 0, else fragmentation needed). */
  private reply(buf: Buffer, off: number, len: number, mtu: number): void {
    const r = this.replies;
    const k = r.count;
    if (k >= r.capacity) return;
    const at = r.dataOffset(k);
    // Both errors come from the packet's destination, not the TUN address: an ICMP error whose
    // source is one of this host's addresses is a martian to the kernel's input path and never
    // reaches the sender; the destination routes back through this TUN, so it passes reverse-path
    // checks, and the sender matches the error by the quoted header (RFC 792, RFC 1191 §4).
    const src = ipv4Dst(buf, off);
    const n =
      mtu === 0
        ? buildIcmpNetUnreachable(r.buffer, at, buf, off, len, src)
        : buildIcmpFragNeeded(r.buffer, at, buf, off, len, src, mtu);
    if (n === 0) return;
    r.offsets[k] = at;
    r.lengths[k] = n;
    r.count = k + 1;
  }
}

/**
 * udp-trains: stage 4 of the offload egress (egress-offload.ts): group the encapsulated
 * descriptors of one batch into UDP GSO trains, in place, for one `sendBatchGso`.
 *
 * A train is a run of consecutive descriptors (this stage reorders nothing; stage 3b,
 * train-groups.ts, has made each peer's and lane's descriptors adjacent) to the
 * same peer address, port and pool lane (`--src-port flow`: one lane is one socket, so a train
 * never mixes them), where every datagram has the first one's size `g` except the last, which may
 * be shorter (it then ends the train): the kernel cuts a UDP_SEGMENT payload at every g bytes
 * whatever the iovecs are. At most `segmentsPerTrain(g)` datagrams (64, UDP_MAX_SEGMENTS) and
 * MAX_GSO_BYTES in all. Members come from anywhere in the batch memory:
 *   - TSO segments cut with scatter-gather (a header slot + a payload slice of the super-packet),
 *   - TSO segments copied back to back (flannel-UDP, RCO),
 *   - plain packets, each in its own TUN read slot (64 KiB apart).
 * A train whose members are heads without tails lying back to back in memory is written as ONE
 * descriptor (`gsoSizes` = g, one iovec); any other train as its members, one descriptor each
 * (`trains[first]` = members, `gsoSizes[first]` = g; the addon gathers head + tail of each, a
 * member without tail costing one iovec). A single datagram is a plain descriptor.
 *
 * No allocation: descriptors are rewritten in place (write index <= read index), counts go to
 * `out`.
 */
import type { PacketBatch } from '../io/packet-batch';
import { MAX_GSO_BYTES, segmentsPerTrain } from '../offload/tso';

/**
 * SegmentTails locates the payload slices of scatter-gather segments: a descriptor whose head
 * lies at or after `start` is a segment whose header sits in slot `floor((head - start) / slot)`
 * of the header region, and its payload slice is `buf[off[s], +len[s])` for that slot `s`.
 */
export interface SegmentTails {
  /** First byte of the header region (every head before it is not a segment's). */
  start: number;
  /** log2 of the bytes per header slot (slots are a power of two: a shift, not a division, per segment). */
  slotShift: number;
  /** Payload slice offset and length, by header slot. */
  off: Uint32Array;
  len: Uint32Array;
}

/** TrainCounts accumulate what `formTrains` did. */
export interface TrainCounts {
  /** UDP GSO messages built (trains of more than one datagram). */
  trains: number;
  /** Payload-slice bytes attached to segments (not counted by the encap stage). */
  tailBytes: number;
}

/**
 * formTrains rewrites descriptors [0, count) of `b` as UDP GSO trains (see the module comment)
 * and returns the new descriptor count; `tails` (null: no scatter-gather segments) gives the
 * segments' payload slices.
 */
export function formTrains(
  b: PacketBatch,
  count: number,
  tails: SegmentTails | null,
  out: TrainCounts,
): number {
  const offsets = b.offsets;
  const lengths = b.lengths;
  const addrs = b.addrs;
  const ports = b.ports;
  const lanes = b.lanes;
  const gso = b.gsoSizes;
  const tOff = b.tailOffsets;
  const tLen = b.tailLengths;
  const trains = b.trains;
  const segStart = tails !== null ? tails.start : 0x7fffffff;
  const shift = tails !== null ? tails.slotShift : 0;
  const sOff = tails !== null ? tails.off : null;
  const sLen = tails !== null ? tails.len : null;
  // Counted here and added to `out` once (a field store per member otherwise).
  let tailBytes = 0;
  let built = 0;
  let w = 0;
  let i = 0;
  while (i < count) {
    const start = offsets[i]!;
    const addr = addrs[i]!;
    const port = ports[i]!;
    const lane = lanes[i]!;
    const size = lengths[i]! + (start >= segStart ? sLen![(start - segStart) >>> shift]! : 0);
    const max = segmentsPerTrain(size);
    // Scan the run first; descriptors are only rewritten once its shape is known.
    let contiguous = size === lengths[i]!;
    let end = start + size;
    let total = size;
    let n = 1;
    let j = i + 1;
    while (j < count && n < max) {
      if (addrs[j] !== addr || ports[j] !== port || lanes[j] !== lane) break;
      const o = offsets[j]!;
      const head = lengths[j]!;
      const l = head + (o >= segStart ? sLen![(o - segStart) >>> shift]! : 0);
      if (l > size || l === 0 || total + l > MAX_GSO_BYTES) break;
      if (contiguous && (l !== head || o !== end)) contiguous = false;
      end = o + head;
      total += l;
      n++;
      j++;
      if (l < size) break;
    }
    if (n === 1 || contiguous) {
      // One descriptor: a lone datagram, or heads back to back (the addon cuts at g bytes).
      offsets[w] = start;
      lengths[w] = contiguous ? total : lengths[i]!;
      addrs[w] = addr;
      ports[w] = port;
      lanes[w] = lane;
      gso[w] = n > 1 ? size : 0;
      trains[w] = 0;
      if (contiguous) tLen[w] = 0;
      else {
        const s = (start - segStart) >>> shift;
        tOff[w] = sOff![s]!;
        tLen[w] = sLen![s]!;
        tailBytes += sLen![s]!;
      }
      if (n > 1) built++;
      w++;
      i = j;
      continue;
    }
    // Members, one descriptor each; w + k <= i + k, so each is read before it is overwritten. In
    // place (w === i, no train before was merged into one descriptor) head, destination and lane
    // are already there: the scan found them equal to the first's.
    const moved = w !== i;
    for (let k = i; k < j; k++) {
      const o = offsets[k]!;
      const d = w + k - i;
      if (moved) {
        offsets[d] = o;
        lengths[d] = lengths[k]!;
        addrs[d] = addr;
        ports[d] = port;
        lanes[d] = lane;
      }
      if (o >= segStart) {
        const s = (o - segStart) >>> shift;
        const l = sLen![s]!;
        tOff[d] = sOff![s]!;
        tLen[d] = l;
        tailBytes += l;
      } else tLen[d] = 0;
      gso[d] = 0;
      trains[d] = 0;
    }
    gso[w] = size;
    trains[w] = n;
    built++;
    w += n;
    i = j;
  }
  out.tailBytes += tailBytes;
  out.trains += built;
  return w;
}

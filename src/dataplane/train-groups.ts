/**
 * train-groups: the step between stages 3 and 4 of the offload egress (egress-offload.ts). It
 * makes the descriptors of one destination (peer address, port) and source-port pool lane
 * adjacent, so that stage 4 (udp-trains.ts), which trains only consecutive descriptors, builds one
 * train per flow when flows interleave packet by packet in a TUN read batch.
 *
 * Order after the step: groups in ascending lane order (the order SrcPortPool sends its lanes in,
 * so its own sort finds the batch sorted and moves nothing), the groups of one lane in the order of
 * their first descriptor, and inside a group the batch order. All packets of one flow fall in one
 * group (its route and its flow hash are functions of the flow), so every flow keeps its packet
 * order, which is all IP promises; only how different flows interleave changes.
 *
 * Steps, per batch, O(descriptors + groups + lanes):
 *   0. one     all descriptors one group (one key): stop, nothing moves.
 *   1. key     each descriptor's group: the previous descriptor's when the key is the same (the
 *              common case: the segments of one super-packet), else found in or added to an
 *              open-addressed table (preallocated; its used slots are cleared after the batch).
 *   2. check   groups already contiguous and in lane order (e.g. one flow): stop, nothing moves.
 *   3. place   each group's first place: the descriptors of the groups before it (pairwise for up
 *              to SMALL groups; else a count per lane, prefix sums, and the groups of each lane in
 *              first-seen order); each descriptor the next place of its group.
 *   4. move    offsets, lengths, addrs, ports and lanes through scratch arrays. The other
 *              descriptor arrays are written by stage 4, and a scatter-gather segment's payload
 *              slice is found from its head offset (`SegmentTails`), so it moves along.
 *
 * No allocation: every array is sized once for the batch's descriptor count.
 */
import type { PacketBatch } from '../io/packet-batch';

/** LANES is the number of distinct lane values (`PacketBatch.lanes` is a Uint8Array). */
const LANES = 256;
/** SMALL is the most groups placed by comparing groups pairwise instead of counting over lanes. */
const SMALL = 8;

/** TrainGroups puts one batch's descriptors in group order; see the module comment. */
export class TrainGroups {
  /** Batches whose descriptors were moved (the rest were already in order). */
  reordered = 0;

  private readonly group: Uint32Array;
  private readonly dest: Uint32Array;
  private readonly gAddr: Uint32Array;
  private readonly gPort: Uint16Array;
  private readonly gLane: Uint8Array;
  private readonly gCount: Uint32Array;
  private readonly gSlot: Uint32Array;
  private readonly laneAt = new Uint32Array(LANES + 1);
  private readonly table: Int32Array;
  private readonly shift: number;
  private readonly t32a: Uint32Array;
  private readonly t16: Uint16Array;
  private readonly t8: Uint8Array;

  /** TrainGroups serves batches of up to `descriptors` descriptors. */
  constructor(descriptors: number) {
    const n = Math.max(1, descriptors);
    this.group = new Uint32Array(n);
    this.dest = new Uint32Array(n);
    this.gAddr = new Uint32Array(n);
    this.gPort = new Uint16Array(n);
    this.gLane = new Uint8Array(n);
    this.gCount = new Uint32Array(n);
    this.gSlot = new Uint32Array(n);
    // At most half full: a power of two >= 2n slots.
    let bits = 1;
    while (1 << bits < 2 * n) bits++;
    this.table = new Int32Array(1 << bits);
    this.shift = 32 - bits;
    this.t32a = new Uint32Array(n);
    this.t16 = new Uint16Array(n);
    this.t8 = new Uint8Array(n);
  }

  /**
   * apply puts descriptors [0, count) of `b` in group order (see the module comment); returns
   * whether anything moved.
   */
  apply(b: PacketBatch, count: number): boolean {
    if (count < 2) return false;
    const addrs = b.addrs;
    const ports = b.ports;
    const lanes = b.lanes;
    // One group (one peer and lane: a single flow's super-packets) has nothing to move; tell that
    // by reading alone before step 1 writes anything.
    const a0 = addrs[0]!;
    const p0 = ports[0]!;
    const l0 = lanes[0]!;
    let same = 1;
    while (same < count && addrs[same] === a0 && ports[same] === p0 && lanes[same] === l0) same++;
    if (same === count) return false;
    return this.place(b, count);
  }

  /**
   * place is `apply` without step 0: steps 1-4 for any batch, including one of a single group
   * (which step 2 then leaves as it is). `apply` calls it when step 0 found two groups or more;
   * tests compare the two on the same input.
   */
  place(b: PacketBatch, count: number): boolean {
    if (count < 2) return false;
    const addrs = b.addrs;
    const ports = b.ports;
    const lanes = b.lanes;
    const group = this.group;
    const gAddr = this.gAddr;
    const gPort = this.gPort;
    const gLane = this.gLane;
    const gCount = this.gCount;
    const gSlot = this.gSlot;
    const table = this.table;
    const mask = table.length - 1;
    const shift = this.shift;
    // Step 1.
    let groups = 0;
    let changes = 0;
    let ordered = true;
    let g = -1;
    let addr = 0;
    let port = -1;
    let lane = -1;
    for (let i = 0; i < count; i++) {
      const a = addrs[i]!;
      const p = ports[i]!;
      const l = lanes[i]!;
      if (a !== addr || p !== port || l !== lane) {
        if (i > 0) {
          changes++;
          if (l < lane) ordered = false;
        }
        addr = a;
        port = p;
        lane = l;
        let h = Math.imul(a ^ Math.imul((p << 8) | l, 0x85ebca6b), 0x9e3779b1) >>> shift;
        for (;;) {
          const t = table[h]!;
          if (t === 0) {
            g = groups++;
            table[h] = g + 1;
            gAddr[g] = a;
            gPort[g] = p;
            gLane[g] = l;
            gCount[g] = 0;
            gSlot[g] = h;
            break;
          }
          const k = t - 1;
          if (gAddr[k] === a && gPort[k] === p && gLane[k] === l) {
            g = k;
            break;
          }
          h = (h + 1) & mask;
        }
      }
      group[i] = g;
      gCount[g]!++;
    }
    for (let k = 0; k < groups; k++) table[gSlot[k]!] = 0;
    // Step 2.
    if (ordered && changes === groups - 1) return false;
    // Step 3: each group's first place, in gSlot.
    if (groups <= SMALL) {
      // Few groups: a group's place is the size of the groups before it (lower lane, or the same
      // lane and seen first).
      for (let k = 0; k < groups; k++) {
        const l = gLane[k]!;
        let at = 0;
        for (let j = 0; j < groups; j++) {
          const lj = gLane[j]!;
          if (lj < l || (lj === l && j < k)) at += gCount[j]!;
        }
        gSlot[k] = at;
      }
    } else {
      // laneAt[l] = first place of lane l, then the groups of each lane in first-seen order.
      const laneAt = this.laneAt;
      laneAt.fill(0);
      for (let k = 0; k < groups; k++) laneAt[gLane[k]! + 1]! += gCount[k]!;
      for (let l = 0; l < LANES; l++) laneAt[l + 1]! += laneAt[l]!;
      for (let k = 0; k < groups; k++) {
        const l = gLane[k]!;
        gSlot[k] = laneAt[l]!;
        laneAt[l]! += gCount[k]!;
      }
    }
    const dest = this.dest;
    for (let i = 0; i < count; i++) dest[i] = gSlot[group[i]!]!++;
    // Step 4.
    move32(b.offsets, dest, this.t32a, count);
    move32(b.lengths, dest, this.t32a, count);
    move32(addrs, dest, this.t32a, count);
    const t16 = this.t16;
    for (let i = 0; i < count; i++) t16[dest[i]!] = ports[i]!;
    for (let i = 0; i < count; i++) ports[i] = t16[i]!;
    const t8 = this.t8;
    for (let i = 0; i < count; i++) t8[dest[i]!] = lanes[i]!;
    for (let i = 0; i < count; i++) lanes[i] = t8[i]!;
    this.reordered++;
    return true;
  }
}

/** move32 puts a[i] at a[dest[i]] for i < n, through `tmp`. */
function move32(a: Uint32Array, dest: Uint32Array, tmp: Uint32Array, n: number): void {
  for (let i = 0; i < n; i++) tmp[dest[i]!] = a[i]!;
  for (let i = 0; i < n; i++) a[i] = tmp[i]!;
}

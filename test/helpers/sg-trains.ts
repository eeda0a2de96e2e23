/**
 * sg-trains: GSO trains laid out as scatter-gather descriptors in a PacketBatch, the way the
 * offload egress hands them to BatchUdpSocket: each member's header in slot 1, its payload slice
 * in slot 0, one descriptor per member, the first of a train carrying the member count.
 */
import type { PacketBatch } from '../../src/io/packet-batch';

/** SgTrain is one GSO train: member count, member size, last member size, optional pool lane. */
export interface SgTrain {
  segs: number;
  g: number;
  last: number;
  lane?: number;
}

/** SgLayout says where the trains go and what bytes they carry. */
export interface SgLayout {
  /** Header bytes per member (in slot 1). */
  hdr: number;
  /** Destination address (u32) and port of every member. */
  addr: number;
  port: number;
  /** The byte filling member `i` of train `t`'s header. */
  hdrByte(t: number, i: number): number;
  /** Payload byte `k` of member `i` of train `t`, which sits at buffer offset `at`. */
  payloadByte(t: number, i: number, k: number, at: number): number;
}

/** layoutSgTrains writes `trains` into `tx` (count set) and returns each train's datagrams. */
export function layoutSgTrains(tx: PacketBatch, trains: readonly SgTrain[], o: SgLayout): Buffer[][] {
  const out: Buffer[][] = [];
  let hdrAt = tx.dataOffset(1);
  let payload = tx.dataOffset(0);
  let d = 0;
  trains.forEach((t, n) => {
    const want: Buffer[] = [];
    for (let i = 0; i < t.segs; i++) {
      const plen = (i === t.segs - 1 ? t.last : t.g) - o.hdr;
      tx.buffer.fill(o.hdrByte(n, i) & 0xff, hdrAt, hdrAt + o.hdr);
      for (let k = 0; k < plen; k++) tx.buffer[payload + k] = o.payloadByte(n, i, k, payload) & 0xff;
      want.push(
        Buffer.concat([
          tx.buffer.subarray(hdrAt, hdrAt + o.hdr),
          tx.buffer.subarray(payload, payload + plen),
        ]),
      );
      tx.offsets[d] = hdrAt;
      tx.lengths[d] = o.hdr;
      tx.tailOffsets[d] = payload;
      tx.tailLengths[d] = plen;
      tx.addrs[d] = o.addr;
      tx.ports[d] = o.port;
      tx.gsoSizes[d] = t.g;
      tx.trains[d] = i === 0 ? t.segs : 0;
      if (t.lane !== undefined) tx.lanes[d] = t.lane;
      hdrAt += o.hdr;
      payload += plen;
      d++;
    }
    out.push(want);
  });
  tx.count = d;
  return out;
}

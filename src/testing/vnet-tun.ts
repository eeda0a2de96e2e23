/**
 * FakeVnetTun: the read side of a TUN opened with IFF_VNET_HDR, in memory, for unit tests of the
 * offload egress (src/dataplane/egress-offload.ts). Each queued IP packet is handed out in its own
 * read slot behind a zeroed virtio-net header (no GSO, no checksum offload), as the kernel hands
 * out a plain packet; packets in `raw` already carry their own header (a kernel fixture record)
 * and are copied as they are.
 */
import { newIoCounters, type IoCounters } from '../io/counters';
import type { PacketBatch } from '../io/packet-batch';
import { VIRTIO_NET_HDR_SIZE } from '../wire/virtio-net-hdr';

/** FakeVnetTun is an in-memory virtio-net-header TUN that only reads; see the module comment. */
export class FakeVnetTun {
  /** What a queue reads of the native Tun besides readBatch (DataplaneQueue, VnetTunWriter). */
  readonly name: string;
  readonly counters: IoCounters = newIoCounters();
  readonly vnetHdr = true;
  readonly uso = false;
  readonly usoRefused = null;
  /** Packets the next reads hand out, oldest first. */
  readonly queue: Buffer[] = [];
  /** Queued packets that carry their own virtio-net header (copied without adding one). */
  readonly raw = new Set<Buffer>();

  constructor(name = 'fake0') {
    this.name = name;
  }

  /** onReadable does nothing: tests drain the egress themselves. */
  onReadable(): void {}

  /** readBatch moves up to `max` queued packets into the batch, one per slot. */
  readBatch(batch: PacketBatch, max = batch.capacity): number {
    let n = 0;
    while (n < max && this.queue.length > 0) {
      const p = this.queue.shift()!;
      const at = batch.dataOffset(n);
      const hdr = this.raw.has(p) ? 0 : VIRTIO_NET_HDR_SIZE;
      batch.buffer.fill(0, at, at + hdr);
      p.copy(batch.buffer, at + hdr);
      batch.offsets[n] = at;
      batch.lengths[n] = hdr + p.length;
      n++;
    }
    batch.count = n;
    return n;
  }
}

/**
 * vnet-tun-writer: a TUN opened with IFF_VNET_HDR, seen as a plain-packet TunDevice writer: every
 * packet the egress stages write back into the TUN (ICMP errors) needs a virtio header in front.
 */
import type { PacketBatch } from './packet-batch';
import type { Tun } from './tun';
import { VIRTIO_NET_HDR_SIZE, zeroVnetHdr } from '../wire/virtio-net-hdr';

/**
 * VnetTunWriter adapts a TUN opened with IFF_VNET_HDR for code that writes plain IP packets (the
 * Egress's ICMP replies): every write gets a zero virtio header in the 10 bytes in front of the
 * packet (inside the batch's headroom). Reads and readiness are not offered: the offload drivers
 * read the TUN themselves.
 */
export class VnetTunWriter {
  constructor(private readonly tun: Tun) {}

  /** name of the device. */
  get name(): string {
    return this.tun.name;
  }

  /** counters of the device. */
  get counters(): Tun['counters'] {
    return this.tun.counters;
  }

  /** readBatch is never used on this adapter; it reads nothing. */
  readBatch(batch: PacketBatch): number {
    batch.count = 0;
    return 0;
  }

  /** writeBatch prepends zero virtio headers to [start, end), writes, and restores the descriptors. */
  writeBatch(batch: PacketBatch, start = 0, end = batch.count, status?: Uint8Array): number {
    const buf = batch.buffer;
    for (let k = start; k < end; k++) {
      const h = batch.offsets[k]! - VIRTIO_NET_HDR_SIZE;
      zeroVnetHdr(buf, h);
      batch.offsets[k] = h;
      batch.lengths[k] = batch.lengths[k]! + VIRTIO_NET_HDR_SIZE;
    }
    const w = this.tun.writeBatch(batch, start, end, status);
    for (let k = start; k < end; k++) {
      batch.offsets[k] = batch.offsets[k]! + VIRTIO_NET_HDR_SIZE;
      batch.lengths[k] = batch.lengths[k]! - VIRTIO_NET_HDR_SIZE;
    }
    return w;
  }

  /** onReadable is a no-op: the offload egress driver watches the TUN itself. */
  onReadable(cb: (() => void) | null): void {
    void cb;
  }

  /** close closes the device. */
  close(): void {
    this.tun.close();
  }
}

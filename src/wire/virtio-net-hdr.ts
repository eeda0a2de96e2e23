/**
 * virtio-net header, the 10-byte `struct virtio_net_hdr` of the Virtual I/O Device specification
 * v1.2 §5.1.6 ("Device Operation", without the mergeable-buffers `num_buffers` field), which a
 * Linux TUN device opened with IFF_VNET_HDR puts in front of every packet it reads and expects in
 * front of every packet written (Documentation/networking/tuntap.rst; include/uapi/linux/virtio_net.h).
 *
 *    0               1               2               3
 *   +---------------+---------------+-------------------------------+
 *   |     flags     |   gso_type    |            hdr_len            |
 *   +---------------+---------------+-------------------------------+
 *   |           gso_size            |          csum_start           |
 *   +-------------------------------+-------------------------------+
 *   |          csum_offset          |
 *   +-------------------------------+
 *
 * The 16-bit fields are in the host's byte order for a legacy (non-VERSION_1) TUN, which is what
 * TUNSETVNETHDRSZ 10 without TUNSETVNETLE gives: little-endian on every platform weft targets.
 *
 * Meaning on read (kernel -> weft): `gso_type` != NONE means the packet is a super-packet of
 * `gso_size`-byte L4 segments; NEEDS_CSUM means the L4 checksum at csum_start + csum_offset holds
 * only the pseudo-header sum, and the sum from csum_start to the end must be added. `hdr_len` is
 * not trusted (wireguard-go: it can cover the whole first packet on the forwarding path).
 * On write (weft -> kernel): the same fields describe a coalesced super-packet; an all-zero header
 * is a plain packet with a complete checksum.
 */

/** VIRTIO_NET_HDR_SIZE is the length of the header (no num_buffers). */
export const VIRTIO_NET_HDR_SIZE = 10;

/** VNET_OFF_FLAGS is the offset of "flags". */
export const VNET_OFF_FLAGS = 0;
/** VNET_OFF_GSO_TYPE is the offset of "gso_type". */
export const VNET_OFF_GSO_TYPE = 1;
/** VNET_OFF_HDR_LEN is the offset of "hdr_len" (u16). */
export const VNET_OFF_HDR_LEN = 2;
/** VNET_OFF_GSO_SIZE is the offset of "gso_size" (u16): L4 payload bytes per segment. */
export const VNET_OFF_GSO_SIZE = 4;
/** VNET_OFF_CSUM_START is the offset of "csum_start" (u16): where checksumming starts (the L4 header). */
export const VNET_OFF_CSUM_START = 6;
/** VNET_OFF_CSUM_OFFSET is the offset of "csum_offset" (u16): checksum field position from csum_start. */
export const VNET_OFF_CSUM_OFFSET = 8;

/** VIRTIO_NET_HDR_F_NEEDS_CSUM: the L4 checksum is partial (pseudo-header only). */
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
/** VIRTIO_NET_HDR_F_DATA_VALID: the checksum was validated (receive side only). */
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;

/** VIRTIO_NET_HDR_GSO_NONE: not a super-packet. */
export const VIRTIO_NET_HDR_GSO_NONE = 0;
/** VIRTIO_NET_HDR_GSO_TCPV4: TCP over IPv4 super-packet (TSO4). */
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
/** VIRTIO_NET_HDR_GSO_UDP: UDP fragmentation offload (UFO, obsolete). */
export const VIRTIO_NET_HDR_GSO_UDP = 3;
/** VIRTIO_NET_HDR_GSO_TCPV6: TCP over IPv6 super-packet (TSO6). */
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
/** VIRTIO_NET_HDR_GSO_UDP_L4: UDP segmentation offload (USO, Linux >= 6.2). */
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
/** VIRTIO_NET_HDR_GSO_ECN: flag bit in gso_type: the super-packet carries ECN CWR (TSO_ECN). */
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

/** TCP_CSUM_OFFSET is csum_offset for TCP (the checksum field is at byte 16 of the TCP header). */
export const TCP_CSUM_OFFSET = 16;
/** UDP_CSUM_OFFSET is csum_offset for UDP. */
export const UDP_CSUM_OFFSET = 6;

/** VirtioNetHdr holds the header's fields, for `writeVnetHdr`, tests and debugging (not the hot path). */
export interface VirtioNetHdr {
  /** NEEDS_CSUM / DATA_VALID bits. */
  flags: number;
  /** GSO_* value, possibly with the GSO_ECN bit. */
  gsoType: number;
  /** Length of the headers in front of the segments' payload (untrusted on read). */
  hdrLen: number;
  /** L4 payload bytes per segment. */
  gsoSize: number;
  /** Start of the L4 header, from the start of the IP packet. */
  csumStart: number;
  /** Checksum field offset from csumStart (16 TCP, 6 UDP). */
  csumOffset: number;
}

function u16(buf: Uint8Array, off: number): number {
  return buf[off]! | (buf[off + 1]! << 8);
}

function setU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
}

/** vnetFlags reads "flags". */
export function vnetFlags(buf: Uint8Array, off: number): number {
  return buf[off + VNET_OFF_FLAGS]!;
}

/** vnetGsoType reads "gso_type" (including the ECN bit). */
export function vnetGsoType(buf: Uint8Array, off: number): number {
  return buf[off + VNET_OFF_GSO_TYPE]!;
}

/** vnetHdrLen reads "hdr_len" (untrusted on read; see the file comment). */
export function vnetHdrLen(buf: Uint8Array, off: number): number {
  return u16(buf, off + VNET_OFF_HDR_LEN);
}

/** vnetGsoSize reads "gso_size". */
export function vnetGsoSize(buf: Uint8Array, off: number): number {
  return u16(buf, off + VNET_OFF_GSO_SIZE);
}

/** vnetCsumStart reads "csum_start". */
export function vnetCsumStart(buf: Uint8Array, off: number): number {
  return u16(buf, off + VNET_OFF_CSUM_START);
}

/** vnetCsumOffset reads "csum_offset". */
export function vnetCsumOffset(buf: Uint8Array, off: number): number {
  return u16(buf, off + VNET_OFF_CSUM_OFFSET);
}

/** writeVnetHdr writes all six fields at buf[off..off+10). */
export function writeVnetHdr(
  buf: Uint8Array,
  off: number,
  flags: number,
  gsoType: number,
  hdrLen: number,
  gsoSize: number,
  csumStart: number,
  csumOffset: number,
): void {
  buf[off + VNET_OFF_FLAGS] = flags;
  buf[off + VNET_OFF_GSO_TYPE] = gsoType;
  setU16(buf, off + VNET_OFF_HDR_LEN, hdrLen);
  setU16(buf, off + VNET_OFF_GSO_SIZE, gsoSize);
  setU16(buf, off + VNET_OFF_CSUM_START, csumStart);
  setU16(buf, off + VNET_OFF_CSUM_OFFSET, csumOffset);
}

/** zeroVnetHdr writes the header of a plain packet with a complete checksum (all zero). */
export function zeroVnetHdr(buf: Uint8Array, off: number): void {
  for (let i = 0; i < VIRTIO_NET_HDR_SIZE; i++) buf[off + i] = 0;
}

/** decodeVnetHdr reads the header into an object (allocates: tests and tools only). */
export function decodeVnetHdr(buf: Uint8Array, off: number): VirtioNetHdr {
  return {
    flags: vnetFlags(buf, off),
    gsoType: vnetGsoType(buf, off),
    hdrLen: vnetHdrLen(buf, off),
    gsoSize: vnetGsoSize(buf, off),
    csumStart: vnetCsumStart(buf, off),
    csumOffset: vnetCsumOffset(buf, off),
  };
}

/** encodeVnetHdr writes `h` at buf[off..off+10) and returns 10. */
export function encodeVnetHdr(buf: Uint8Array, off: number, h: VirtioNetHdr): number {
  writeVnetHdr(buf, off, h.flags, h.gsoType, h.hdrLen, h.gsoSize, h.csumStart, h.csumOffset);
  return VIRTIO_NET_HDR_SIZE;
}

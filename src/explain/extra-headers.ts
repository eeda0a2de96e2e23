/**
 * Layouts of the headers the frame decoder reads that src/wire does not cover (src/wire holds the
 * headers weft itself reads and writes on the packet path): byte offsets and sizes only. TCP is
 * src/wire/tcp.ts's layout, gathered here under the names the decoder uses.
 *
 *   TCP                 RFC 9293 §3.1 (src/wire/tcp.ts)
 *   ICMPv6              RFC 4443 §2.1 (neighbor discovery target: RFC 4861 §4.3)
 *   IPv6 extensions     RFC 8200 §4.3-§4.6 (hop-by-hop, routing, fragment, destination options)
 *   802.1Q / 802.1ad    IEEE 802.1Q §9.6
 *   Linux cooked SLL    https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html
 *   Linux cooked SLL2   https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html
 *   BSD loopback        https://www.tcpdump.org/linktypes/LINKTYPE_NULL.html
 *
 * Design notes: these belong in src/wire (one file per header) once the packet path needs them;
 * until then they live here so the decoder names every offset it reads.
 */

import {
  TCP_ACK,
  TCP_MIN_HEADER_SIZE,
  TCP_OFF_ACK,
  TCP_OFF_CHECKSUM,
  TCP_OFF_DATA_OFFSET,
  TCP_OFF_DST_PORT,
  TCP_OFF_FLAGS,
  TCP_OFF_SEQ,
  TCP_OFF_SRC_PORT,
  TCP_OFF_URGENT,
  TCP_OFF_WINDOW,
} from '../wire/tcp';

/** TCP is the TCP header layout of src/wire/tcp.ts; `FLAG_ACK` is the ACK bit of the flags byte. */
export const TCP = {
  SRC_PORT: TCP_OFF_SRC_PORT,
  DST_PORT: TCP_OFF_DST_PORT,
  SEQ: TCP_OFF_SEQ,
  ACK: TCP_OFF_ACK,
  DOFF_FLAGS: TCP_OFF_DATA_OFFSET,
  FLAGS: TCP_OFF_FLAGS,
  WINDOW: TCP_OFF_WINDOW,
  CHECKSUM: TCP_OFF_CHECKSUM,
  URGENT: TCP_OFF_URGENT,
  MIN_SIZE: TCP_MIN_HEADER_SIZE,
  FLAG_ACK: TCP_ACK,
} as const;

/** ICMPV6 is the ICMPv6 message layout and the types the decoder reads further. */
export const ICMPV6 = {
  CODE: 1,
  CHECKSUM: 2,
  /** Echo id/seq, the packet-too-big MTU, or ND flags. */
  BODY: 4,
  ND_TARGET: 8,
  MIN_SIZE: 4,
  PACKET_TOO_BIG: 2,
  ECHO_REQUEST: 128,
  ECHO_REPLY: 129,
  NEIGHBOR_SOLICITATION: 135,
  NEIGHBOR_ADVERTISEMENT: 136,
} as const;

/** IPV6_EXT is the extension-header layout: every one is a multiple of 8 bytes. */
export const IPV6_EXT = {
  HOP_BY_HOP: 0,
  ROUTING: 43,
  FRAGMENT: 44,
  DEST_OPTIONS: 60,
  MIN_SIZE: 8,
  /** "Hdr Ext Len": 8-byte units beyond the first 8. */
  LENGTH: 1,
  /** Fragment header: offset (13 bits, already in bytes under this mask) + M flag word. */
  FRAG_OFFSET: 2,
  FRAG_OFFSET_MASK: 0xfff8,
  FRAG_ID: 4,
  /** Bound on the walk, so a looping chain cannot stall a decode. */
  MAX_CHAIN: 8,
} as const;

/** VLAN is the 802.1Q / 802.1ad (QinQ) tag: TPID + TCI, skipped to reach the EtherType. */
export const VLAN = { TPID_QINQ: 0x88a8, SIZE: 4, VID_MASK: 0x0fff } as const;

/** ETHERTYPE_MAX_LENGTH is the largest value that is an IEEE 802.3 length, not an EtherType. */
export const ETHERTYPE_MAX_LENGTH = 1500;

/** SLL is the Linux cooked capture v1 header layout. */
export const SLL = { PKTTYPE: 0, ARPHRD: 2, ADDR_LEN: 4, ADDR: 6, PROTOCOL: 14, SIZE: 16 } as const;

/** SLL2 is the Linux cooked capture v2 header layout (the protocol comes first). */
export const SLL2 = {
  PROTOCOL: 0,
  RESERVED: 2,
  IFINDEX: 4,
  ARPHRD: 8,
  PKTTYPE: 10,
  ADDR_LEN: 11,
  ADDR: 12,
  SIZE: 20,
} as const;

/**
 * LOOPBACK is the BSD loopback header: an address family in host order. AF_INET is 2 on every
 * system that writes LINKTYPE_NULL; AF_INET6 varies (10 on Linux, 24/28/30 on BSDs).
 */
export const LOOPBACK = { SIZE: 4, AF_INET: 2 } as const;

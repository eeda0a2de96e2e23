/**
 * Finding the network-layer packet inside a captured record, per pcap link type
 * (https://www.tcpdump.org/linktypes.html): Ethernet (1, 14-byte header, EtherType at 12), raw IP
 * (101, 228, 229: the record is the IP packet) and Linux cooked SLL (113, 16-byte header, protocol
 * at 14). Control path: returns undefined for anything it cannot place, never throws.
 */
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethernet';
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_RAW,
} from './pcap-file';

/** NetworkLayer locates the packet after the link header. */
export interface NetworkLayer {
  /** Offset of the network-layer packet within the record. */
  offset: number;
  /** Its EtherType (0x0800, 0x86dd, 0x0806, ...); for raw IP derived from the version nibble. */
  etherType: number;
}

/** SLL_HEADER_SIZE is the length of a LINKTYPE_LINUX_SLL pseudo-header. */
export const SLL_HEADER_SIZE = 16;

/** isSupportedLinkType reports whether `networkLayer` understands the link type. */
export function isSupportedLinkType(linkType: number): boolean {
  return (
    linkType === LINKTYPE_ETHERNET ||
    linkType === LINKTYPE_RAW ||
    linkType === LINKTYPE_IPV4 ||
    linkType === LINKTYPE_IPV6 ||
    linkType === LINKTYPE_LINUX_SLL
  );
}

/** networkLayer finds the network-layer packet in `data` captured with `linkType`. */
export function networkLayer(linkType: number, data: Uint8Array): NetworkLayer | undefined {
  switch (linkType) {
    case LINKTYPE_ETHERNET:
      if (data.length < 14) return undefined;
      return { offset: 14, etherType: (data[12] << 8) | data[13] };
    case LINKTYPE_LINUX_SLL:
      if (data.length < SLL_HEADER_SIZE) return undefined;
      return { offset: SLL_HEADER_SIZE, etherType: (data[14] << 8) | data[15] };
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6: {
      if (data.length < 1) return undefined;
      const v = data[0] >>> 4;
      return { offset: 0, etherType: v === 6 ? ETHERTYPE_IPV6 : v === 4 ? ETHERTYPE_IPV4 : 0 };
    }
    default:
      return undefined;
  }
}

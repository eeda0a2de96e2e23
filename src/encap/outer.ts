/**
 * Outer IPv4 + UDP headers for paths that build whole underlay packets themselves (pcap tools,
 * raw sockets); the normal data path lets the kernel's UDP socket add them.
 *
 * Choices, matching Linux VXLAN defaults (docs/wire-formats.md): DF clear (`df unset`), TTL 64
 * (`ttl 0` = route hop limit), TOS 0, IP ID from a per-process counter (the kernel uses a per-
 * destination counter; any value is valid for an unfragmented packet, RFC 6864), UDP checksum
 * optional (RFC 7348 §5: SHOULD be zero over IPv4; Linux `udpcsum` computes it).
 */
import { copyMac, ETH_HEADER_SIZE, ETH_OFF_SRC, setEthEtherType } from '../wire/ethernet';
import { IPV4_FLAG_DF, IPV4_MIN_HEADER_SIZE, IP_PROTO_UDP, writeIpv4Header } from '../wire/ipv4';
import { setUdpChecksum, UDP_HEADER_SIZE, udpChecksumIpv4, writeUdpHeader } from '../wire/udp';
import { DEFAULT_OUTER_TTL, OUTER_IPV4_UDP_SIZE } from './constants';

/** OuterOptions tunes `writeOuterIPv4Udp`; pass one preallocated object to stay allocation-free. */
export interface OuterOptions {
  /** Outer "Time to Live" (default 64). */
  ttl: number;
  /** Outer "Type of Service" byte (default 0). */
  tos: number;
  /** Set "Don't Fragment" (default false: Linux VXLAN `df unset`). */
  df: boolean;
  /** Compute the UDP checksum (default false: zero, as RFC 7348 §5 recommends over IPv4). */
  udpChecksum: boolean;
}

/** DEFAULT_OUTER_OPTIONS is TTL 64, TOS 0, DF clear, UDP checksum zero. */
export const DEFAULT_OUTER_OPTIONS: Readonly<OuterOptions> = Object.freeze({
  ttl: DEFAULT_OUTER_TTL,
  tos: 0,
  df: false,
  udpChecksum: false,
});

let ipId = 0;

/** nextIpId returns the next outer IPv4 "Identification" value (a wrapping 16-bit counter). */
export function nextIpId(): number {
  ipId = (ipId + 1) & 0xffff;
  return ipId;
}

/** resetIpId sets the IP ID counter (tests and golden-frame comparisons want fixed IDs). */
export function resetIpId(v = 0): void {
  ipId = v & 0xffff;
}

/**
 * writeOuterIPv4Udp writes IPv4(20) + UDP(8) in front of the UDP payload at
 * buf[start..start+payloadLen) and returns the new start (start - 28). Addresses are host-order
 * u32; ports are numbers. Requires start >= 28 and 28 + payloadLen <= 65535.
 */
export function writeOuterIPv4Udp(
  buf: Buffer,
  start: number,
  payloadLen: number,
  srcU32: number,
  dstU32: number,
  srcPort: number,
  dstPort: number,
  opts: Readonly<OuterOptions> = DEFAULT_OUTER_OPTIONS,
): number {
  const ip = start - OUTER_IPV4_UDP_SIZE;
  const udp = ip + IPV4_MIN_HEADER_SIZE;
  const udpLen = payloadLen + UDP_HEADER_SIZE;
  const totalLen = udpLen + IPV4_MIN_HEADER_SIZE;
  // IPv4 header (RFC 791 §3.1), no options.
  writeIpv4Header(
    buf,
    ip,
    opts.tos,
    totalLen,
    nextIpId(),
    opts.df ? IPV4_FLAG_DF : 0,
    opts.ttl,
    IP_PROTO_UDP,
    srcU32,
    dstU32,
  );
  // UDP header (RFC 768); the checksum field must be zero while the checksum is computed.
  writeUdpHeader(buf, udp, srcPort, dstPort, udpLen);
  if (opts.udpChecksum) setUdpChecksum(buf, udp, udpChecksumIpv4(buf, udp, udpLen, srcU32, dstU32));
  return ip;
}

/**
 * writeOuterEthernet writes an outer Ethernet header in front of `start` and returns the new start
 * (start - 14); for pcap output, where frames need a link layer.
 */
export function writeOuterEthernet(
  buf: Buffer,
  start: number,
  dstMac: Uint8Array,
  srcMac: Uint8Array,
  etherType: number,
): number {
  const eth = start - ETH_HEADER_SIZE;
  copyMac(buf, eth, dstMac);
  copyMac(buf, eth + ETH_OFF_SRC, srcMac);
  setEthEtherType(buf, eth, etherType);
  return eth;
}

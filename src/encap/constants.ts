/**
 * Encapsulation sizes, overheads and defaults. Every size is derived from the header sizes in
 * src/wire/ so the arithmetic is visible; MTUs elsewhere must be computed from these.
 */
import { ETH_HEADER_SIZE } from '../wire/ethernet';
import { IPV4_MIN_HEADER_SIZE } from '../wire/ipv4';
import { IPV6_HEADER_SIZE } from '../wire/ipv6';
import { UDP_HEADER_SIZE } from '../wire/udp';
import { VXLAN_HEADER_SIZE } from '../wire/vxlan';

/**
 * HEADROOM is the space every packet-buffer slot reserves in front of the inner packet, so the
 * encapsulators write headers in place. 128 >= outer Ethernet 14 + outer IPv6 40 + UDP 8 + VXLAN 8 +
 * inner Ethernet 14 = 84 (the largest prefix any path writes), rounded up to a cache-line multiple.
 */
export const HEADROOM = 128;

/** VXLAN_ENCAP_SIZE is what `vxlanEncap` prepends: VXLAN 8 + inner Ethernet 14 = 22. */
export const VXLAN_ENCAP_SIZE = VXLAN_HEADER_SIZE + ETH_HEADER_SIZE;

/** OUTER_IPV4_UDP_SIZE is what `writeOuterIPv4Udp` prepends: IPv4 20 + UDP 8 = 28. */
export const OUTER_IPV4_UDP_SIZE = IPV4_MIN_HEADER_SIZE + UDP_HEADER_SIZE;

/**
 * VXLAN_OVERHEAD is the underlay IP bytes VXLAN adds to an inner IP packet over IPv4:
 * outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 = 50 (flannel: device MTU = iface MTU - 50).
 */
export const VXLAN_OVERHEAD = OUTER_IPV4_UDP_SIZE + VXLAN_ENCAP_SIZE;

/** VXLAN_OVERHEAD_IPV6 is the same over an IPv6 underlay: 40 + 8 + 8 + 14 = 70. */
export const VXLAN_OVERHEAD_IPV6 = IPV6_HEADER_SIZE + UDP_HEADER_SIZE + VXLAN_ENCAP_SIZE;

/**
 * UDP_OVERHEAD is what flannel-UDP adds over IPv4: IPv4 20 + UDP 8 = 28 (flannel's
 * `encapOverhead = 28`; flannel0 MTU = iface MTU - 28 = 1472).
 */
export const UDP_OVERHEAD = OUTER_IPV4_UDP_SIZE;

/** DEFAULT_VXLAN_PORT is the Linux kernel's (and flannel's) VXLAN port; IANA's is 4789. */
export const DEFAULT_VXLAN_PORT = 8472;
/** DEFAULT_FLANNEL_UDP_PORT is flannel's UDP backend port. */
export const DEFAULT_FLANNEL_UDP_PORT = 8285;
/** DEFAULT_VNI is flannel's default VXLAN Network Identifier. */
export const DEFAULT_VNI = 1;
/** DEFAULT_SRC_PORT_MIN is the low end of the RFC 7348 §5 recommended source-port range (RFC 6335 dynamic). */
export const DEFAULT_SRC_PORT_MIN = 49152;
/** DEFAULT_SRC_PORT_MAX is the high end of that range. */
export const DEFAULT_SRC_PORT_MAX = 65535;
/** DEFAULT_OUTER_TTL is the outer TTL, as Linux VXLAN with `ttl 0` uses the route hop limit (64). */
export const DEFAULT_OUTER_TTL = 64;
/** ICMP_REPLY_TTL is the TTL of ICMP errors flannel's UDP proxy generates (proxy_amd64.c uses 8). */
export const ICMP_REPLY_TTL = 8;

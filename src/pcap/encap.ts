/**
 * Offline encapsulation of a capture (`weft pcap encap`): inner frames in, complete underlay
 * frames out (outer Ethernet + IPv4 + UDP + overlay header + inner frame).
 *
 * Stages per record (the first failing stage skips the record and counts one reason):
 *   1. link layer -> IP packet (Ethernet, SLL or raw IP input)     -> skipped.not_ip (ARP, ...)
 *   2. copy the IP packet into a buffer with HEADROOM in front
 *   3. overlay: vxlanEncap (inner Ethernet + VXLAN; source port = flowSourcePort of the inner flow)
 *      or flannelUdpEncap (validates, decrements TTL; source port = the overlay port, as flannel)
 *   4. writeOuterIPv4Udp (outer ECN copied from the inner packet like Linux's
 *      ip_tunnel_ecn_encap, CE sent as ECT(0); UDP checksum computed by default like Linux `udpcsum`)
 *   5. writeOuterEthernet
 *
 * Design notes: VXLAN inner MACs come from `localMac`/`remoteMac` when given; otherwise an
 * Ethernet input frame keeps its own MACs (so a kernel capture from flannel.1 re-encapsulates to
 * the kernel's bytes); raw IP input needs both MACs. Outer MACs default to `02:00:` followed by the
 * four bytes of the outer IPv4 address, which is deterministic and locally administered.
 */
import {
  DEFAULT_FLANNEL_UDP_PORT,
  DEFAULT_OUTER_TTL,
  DEFAULT_SRC_PORT_MAX,
  DEFAULT_SRC_PORT_MIN,
  DEFAULT_VNI,
  DEFAULT_VXLAN_PORT,
  DropReason,
  HEADROOM,
  flannelUdpEncap,
  flowSourcePort,
  newDropCounters,
  vxlanEncap,
  writeOuterEthernet,
  writeOuterIPv4Udp,
  type DropCounters,
  type OuterOptions,
  type VxlanConfig,
} from '../encap';
import { ConfigError, FormatError } from '../errors';
import type { Backend } from '../route/peer';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethernet';
import { isSupportedLinkType, networkLayer } from './link-layer';
import { LINKTYPE_ETHERNET, linkTypeName, type PcapFile, type PcapRecord } from './pcap-file';

/** EncapOptions describe the tunnel the frames are sent through. */
export interface EncapOptions {
  /** `vxlan` (RFC 7348) or `udp` (flannel-UDP). */
  backend: Backend;
  /** Outer source IPv4 address, host-order u32. */
  localIp: number;
  /** Outer destination IPv4 address, host-order u32. */
  remoteIp: number;
  /** Our VTEP MAC (inner Ethernet source, vxlan). */
  localMac?: Buffer;
  /** The peer's VTEP MAC (inner Ethernet destination, vxlan). */
  remoteMac?: Buffer;
  /** Outer Ethernet source; default `02:00:` + localIp bytes. */
  outerSrcMac?: Buffer;
  /** Outer Ethernet destination; default `02:00:` + remoteIp bytes. */
  outerDstMac?: Buffer;
  /** UDP destination port; default 8472 (vxlan) or 8285 (udp). */
  port?: number;
  /** VNI (vxlan); default 1. */
  vni?: number;
  /** Source-port range for the flow hash (vxlan); default 49152-65535 (RFC 7348 §5). */
  srcPortMin?: number;
  /** See srcPortMin. */
  srcPortMax?: number;
  /** Compute the outer UDP checksum (default true, as Linux VXLAN's default `udpcsum`). */
  udpChecksum?: boolean;
  /** Outer DF bit; default false for vxlan (Linux `df unset`), true for udp (a Linux UDP socket's PMTU default). */
  df?: boolean;
  /** Outer TTL; default 64. */
  ttl?: number;
}

/** EncapResult holds the underlay frames and what was skipped. */
export interface EncapResult {
  /** Always Ethernet. */
  linkType: number;
  /** Underlay frames, timestamps kept. */
  records: PcapRecord[];
  /** For each output record, the 0-based index of its input record. */
  sourceIndex: number[];
  /** Drop counters (src/encap reasons). */
  drops: DropCounters;
  /** Records whose payload is not IPv4/IPv6 (ARP, ...): flannel does not carry them. */
  notIp: number;
}

/** macFromIpv4 is the default outer MAC for an address: 02:00:a:b:c:d. */
export function macFromIpv4(u32: number): Buffer {
  return Buffer.from([0x02, 0x00, u32 >>> 24, (u32 >>> 16) & 0xff, (u32 >>> 8) & 0xff, u32 & 0xff]);
}

/** encapPcap wraps every IP packet of a capture in the overlay; throws FormatError/ConfigError on unusable input. */
export function encapPcap(file: PcapFile, opts: EncapOptions): EncapResult {
  if (!isSupportedLinkType(file.linkType)) {
    throw new FormatError(
      `cannot encap ${linkTypeName(file.linkType)} captures (need Ethernet, raw IP or SLL)`,
    );
  }
  const vxlan = opts.backend === 'vxlan';
  const ethIn = file.linkType === LINKTYPE_ETHERNET;
  if (vxlan && !ethIn && (!opts.localMac || !opts.remoteMac)) {
    throw new ConfigError('--local-mac/--remote-mac', 'are required to VXLAN-encapsulate raw IP frames');
  }
  const port = opts.port ?? (vxlan ? DEFAULT_VXLAN_PORT : DEFAULT_FLANNEL_UDP_PORT);
  const min = opts.srcPortMin ?? DEFAULT_SRC_PORT_MIN;
  const max = opts.srcPortMax ?? DEFAULT_SRC_PORT_MAX;
  const cfg: VxlanConfig = {
    vni: opts.vni ?? DEFAULT_VNI,
    localMac: Buffer.from(opts.localMac ?? Buffer.alloc(6)),
    srcPortMin: min,
    srcPortMax: max,
    rco: false,
  };
  const peerMac = Buffer.from(opts.remoteMac ?? Buffer.alloc(6));
  const outer: OuterOptions = {
    ttl: opts.ttl ?? DEFAULT_OUTER_TTL,
    tos: 0,
    df: opts.df ?? !vxlan,
    udpChecksum: opts.udpChecksum ?? true,
  };
  const outerSrc = opts.outerSrcMac ?? macFromIpv4(opts.localIp);
  const outerDst = opts.outerDstMac ?? macFromIpv4(opts.remoteIp);
  const res: EncapResult = {
    linkType: LINKTYPE_ETHERNET,
    records: [],
    sourceIndex: [],
    drops: newDropCounters(),
    notIp: 0,
  };
  file.records.forEach((rec, index) => {
    const nl = networkLayer(file.linkType, rec.data);
    if (!nl || (nl.etherType !== ETHERTYPE_IPV4 && nl.etherType !== ETHERTYPE_IPV6)) {
      res.notIp++;
      return;
    }
    let len = rec.data.length - nl.offset;
    if (len < 1) {
      res.drops[DropReason.tooShort]++;
      return;
    }
    const buf = Buffer.alloc(HEADROOM + len);
    rec.data.copy(buf, HEADROOM, nl.offset);
    let start: number;
    let srcPort: number;
    if (vxlan) {
      // An Ethernet input frame keeps its own VTEP MACs unless the caller chose them.
      if (ethIn && !opts.localMac) rec.data.copy(cfg.localMac, 0, 6, 12);
      if (ethIn && !opts.remoteMac) rec.data.copy(peerMac, 0, 0, 6);
      srcPort = flowSourcePort(buf, HEADROOM, len, min, max);
      start = vxlanEncap(buf, HEADROOM, len, peerMac, cfg);
    } else {
      // An Ethernet capture may pad short packets; the UDP payload is the IP packet alone.
      const ipLen = declaredLength(buf, HEADROOM, len);
      if (ipLen > 0 && ipLen < len) len = ipLen;
      if (flannelUdpEncap(buf, HEADROOM, len, res.drops) < 0) return;
      srcPort = port;
      start = HEADROOM;
    }
    outer.tos = ecnEncap(buf, HEADROOM);
    const payloadLen = HEADROOM + len - start;
    if (payloadLen + 28 > 0xffff) {
      res.drops[DropReason.tooBig]++;
      return;
    }
    const ip = writeOuterIPv4Udp(buf, start, payloadLen, opts.localIp, opts.remoteIp, srcPort, port, outer);
    const eth = writeOuterEthernet(buf, ip, outerDst, outerSrc, ETHERTYPE_IPV4);
    const data = Buffer.from(buf.subarray(eth, HEADROOM + len));
    res.records.push({ tsSec: rec.tsSec, tsNsec: rec.tsNsec, data, origLen: data.length });
    res.sourceIndex.push(index);
  });
  return res;
}

/** declaredLength is the IP packet's own length, or 0 when the header is too short to say. */
function declaredLength(buf: Buffer, off: number, len: number): number {
  const v = buf[off] >>> 4;
  if (v === 4 && len >= 20) return (buf[off + 2] << 8) | buf[off + 3];
  if (v === 6 && len >= 40) return 40 + ((buf[off + 4] << 8) | buf[off + 5]);
  return 0;
}

/**
 * ecnEncap is the outer TOS byte for an inner IP packet, as Linux's INET_ECN_encapsulate with
 * `tos 0`: DSCP 0, the inner ECN codepoint copied, except CE which the kernel sends as ECT(0).
 */
function ecnEncap(buf: Buffer, off: number): number {
  const v = buf[off] >>> 4;
  const ecn = v === 6 ? (buf[off + 1] >>> 4) & 3 : v === 4 ? buf[off + 1] & 3 : 0;
  return ecn === 3 ? 2 : ecn;
}

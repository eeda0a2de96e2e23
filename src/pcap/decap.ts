/**
 * Offline decapsulation of a capture (`weft pcap decap`): underlay frames in, inner frames out.
 *
 * Stages per record (the first failing stage skips the record and counts one reason):
 *   1. link layer -> network layer (Ethernet, SLL or raw IP)       -> skipped.not_ipv4 (ARP, IPv6, ...)
 *   2. outer IPv4 header valid, not a fragment                     -> drop bad_outer_ip / outer_fragment
 *   3. outer protocol UDP, UDP length consistent                    -> drop bad_outer_udp
 *   4. UDP destination port is the overlay port                     -> drop wrong_port
 *   5. a non-zero UDP checksum is correct (RFC 7348 §5: MUST drop)  -> drop bad_udp_checksum
 *   6. the overlay decapsulator from src/encap (vxlanDecap / flannelUdpDecap) with its own drop reasons
 *
 * Design notes: live decap accepts only frames addressed to *our* VTEP MAC. A capture has no
 * "our": unless `localMac` is given, each frame's own inner destination MAC is taken as the
 * receiving VTEP's (so frames in both directions decap), while every other check of the real
 * decapsulator still runs. The output for VXLAN is the inner Ethernet frame exactly as carried
 * (what the kernel shows on flannel.1); for flannel-UDP the UDP payload, i.e. the raw IP packet.
 */
import {
  DEFAULT_FLANNEL_UDP_PORT,
  DEFAULT_VNI,
  DEFAULT_VXLAN_PORT,
  DROP_REASON_NAMES,
  ANOMALY_NAMES,
  DropReason,
  flannelUdpDecap,
  newAnomalyCounters,
  newDropCounters,
  vxlanDecap,
  type AnomalyCounters,
  type DropCounters,
  type VxlanConfig,
} from '../encap';
import { FormatError } from '../errors';
import type { Backend } from '../route/peer';
import { ETH_HEADER_SIZE, ETHERTYPE_IPV4 } from '../wire/ethernet';
import {
  ipv4HeaderLength,
  ipv4IsFragment,
  ipv4Protocol,
  ipv4Src,
  ipv4Dst,
  IP_PROTO_UDP,
  isValidIpv4,
  ipv4TotalLength,
} from '../wire/ipv4';
import { isValidUdp, udpChecksumValidIpv4, udpDstPort, udpLength } from '../wire/udp';
import { isSupportedLinkType, networkLayer } from './link-layer';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, linkTypeName, type PcapFile, type PcapRecord } from './pcap-file';

/** DecapOptions select the overlay to unwrap. */
export interface DecapOptions {
  /** `vxlan` (RFC 7348) or `udp` (flannel-UDP). */
  backend: Backend;
  /** UDP destination port of the overlay; default 8472 for vxlan, 8285 for udp. */
  port?: number;
  /** VNI to accept (vxlan); default 1. */
  vni?: number;
  /** Accept only frames for this VTEP MAC (vxlan); default: any (each frame's own destination). */
  localMac?: Buffer;
  /** Verify non-zero outer UDP checksums (default true). */
  verifyUdpChecksum?: boolean;
}

/** DecapResult holds the inner frames and what was skipped. */
export interface DecapResult {
  /** Link type of `records`: Ethernet for vxlan, raw IP for flannel-UDP. */
  linkType: number;
  /** Inner frames, timestamps kept. */
  records: PcapRecord[];
  /** For each output record, the 0-based index of its input record. */
  sourceIndex: number[];
  /** Drop counters (src/encap reasons), one count per skipped overlay-looking frame. */
  drops: DropCounters;
  /** Anomalies among accepted frames. */
  anomalies: AnomalyCounters;
  /** Records that are not IPv4 at all (ARP, IPv6 underlay, ...): not overlay traffic, not drops. */
  notIpv4: number;
}

/** decapPcap unwraps every overlay frame of an underlay capture; throws FormatError on an unusable link type. */
export function decapPcap(file: PcapFile, opts: DecapOptions): DecapResult {
  if (!isSupportedLinkType(file.linkType)) {
    throw new FormatError(
      `cannot decap ${linkTypeName(file.linkType)} captures (need Ethernet, raw IP or SLL)`,
    );
  }
  const vxlan = opts.backend === 'vxlan';
  const port = opts.port ?? (vxlan ? DEFAULT_VXLAN_PORT : DEFAULT_FLANNEL_UDP_PORT);
  const verify = opts.verifyUdpChecksum ?? true;
  const cfg: VxlanConfig = {
    vni: opts.vni ?? DEFAULT_VNI,
    localMac: Buffer.from(opts.localMac ?? Buffer.alloc(6)),
    srcPortMin: 49152,
    srcPortMax: 65535,
  };
  const res: DecapResult = {
    linkType: vxlan ? LINKTYPE_ETHERNET : LINKTYPE_RAW,
    records: [],
    sourceIndex: [],
    drops: newDropCounters(),
    anomalies: newAnomalyCounters(),
    notIpv4: 0,
  };
  const drops = res.drops;
  file.records.forEach((rec, index) => {
    const buf = rec.data;
    const nl = networkLayer(file.linkType, buf);
    if (!nl || nl.etherType !== ETHERTYPE_IPV4) {
      res.notIpv4++;
      return;
    }
    const ip = nl.offset;
    if (!isValidIpv4(buf, ip, buf.length - ip)) {
      drops[DropReason.badOuterIp]++;
      return;
    }
    if (ipv4IsFragment(buf, ip)) {
      drops[DropReason.outerFragment]++;
      return;
    }
    const udp = ip + ipv4HeaderLength(buf, ip);
    const ipEnd = ip + ipv4TotalLength(buf, ip);
    if (ipv4Protocol(buf, ip) !== IP_PROTO_UDP || !isValidUdp(buf, udp, ipEnd - udp)) {
      drops[DropReason.badOuterUdp]++;
      return;
    }
    if (udpDstPort(buf, udp) !== port) {
      drops[DropReason.wrongPort]++;
      return;
    }
    const ulen = udpLength(buf, udp);
    if (verify && !udpChecksumValidIpv4(buf, udp, ulen, ipv4Src(buf, ip), ipv4Dst(buf, ip))) {
      drops[DropReason.badUdpChecksum]++;
      return;
    }
    const off = udp + 8;
    const len = ulen - 8;
    let start: number;
    if (vxlan) {
      if (!opts.localMac && len >= 8 + 6) buf.copy(cfg.localMac, 0, off + 8, off + 14);
      const inner = vxlanDecap(buf, off, len, cfg, drops, res.anomalies);
      if (inner < 0) return;
      start = inner - ETH_HEADER_SIZE;
    } else {
      start = flannelUdpDecap(buf, off, len, drops, false);
      if (start < 0) return;
    }
    const data = Buffer.from(buf.subarray(start, off + len));
    res.records.push({ tsSec: rec.tsSec, tsNsec: rec.tsNsec, data, origLen: data.length });
    res.sourceIndex.push(index);
  });
  return res;
}

/** countsReport lists the non-zero counters as `name: n` lines (for stderr). */
export function countsReport(res: {
  drops: DropCounters;
  anomalies?: AnomalyCounters;
  notIpv4?: number;
}): string[] {
  const lines: string[] = [];
  if (res.notIpv4) lines.push(`not_ipv4: ${res.notIpv4} (not overlay traffic, e.g. ARP)`);
  DROP_REASON_NAMES.forEach((name, i) => {
    if (res.drops[i]) lines.push(`${name}: ${res.drops[i]}`);
  });
  if (res.anomalies) {
    ANOMALY_NAMES.forEach((name, i) => {
      if (res.anomalies![i]) lines.push(`anomaly ${name}: ${res.anomalies![i]} (accepted)`);
    });
  }
  return lines;
}

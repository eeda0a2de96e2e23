/**
 * Offline decapsulation of a capture (`weft pcap decap`): underlay frames in, inner frames out.
 *
 * Stages per record (the first failing stage skips the record and counts one reason):
 *   1. link layer -> network layer (Ethernet, SLL or raw IP)       -> skipped.not_ipv4 (ARP, IPv6, ...)
 *   2. outer IPv4 header valid, not a fragment                     -> drop bad_outer_ip / outer_fragment
 *   3. outer protocol UDP, UDP length consistent                    -> drop bad_outer_udp
 *   4. UDP destination port is the overlay port                     -> drop wrong_port
 *   5. the outer UDP checksum state (src/wire/checksum-state.ts)    -> drop bad_udp_checksum
 *      `offload` (default): accept ok/none/partial/offload, drop `bad` (what a receiving kernel does);
 *      `strict`: RFC 7348 §5, drop every incorrect non-zero checksum; `off`: accept all
 *   6. the overlay decapsulator from src/encap (vxlanDecap / flannelUdpDecap) with its own drop reasons
 *
 * Design notes: live decap accepts only frames addressed to *our* VTEP MAC. A capture has no
 * "our": unless `localMac` is given, each frame's own inner destination MAC is taken as the
 * receiving VTEP's (so frames in both directions decap), while every other check of the real
 * decapsulator still runs. Which senders are local is also a property of the file: a capture taken
 * on a node with checksum offload holds partial checksums (the pseudo-header sum only) from that
 * node's addresses, so every sender of one is taken as local, as are `localAddresses`; a wrong
 * checksum from a local sender is "bad, probably offload", from anyone else "bad". The output for VXLAN is the inner Ethernet frame exactly as carried
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
import { isValidUdp, udpDstPort, udpLength } from '../wire/udp';
import { CHECKSUM_STATES, udpChecksumStateIpv4, type ChecksumState } from '../wire/checksum-state';
import { u32ToIpv4 } from '../net/addr';
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
  /**
   * What to do with outer UDP checksums: `offload` (default) drops only `bad` ones, as a receiving
   * kernel would; `strict` drops every incorrect one (RFC 7348 §5), partial ones included; `off`
   * drops none. The states are counted whatever the policy.
   */
  checksum?: ChecksumPolicy;
  /** Underlay addresses of the capturing node (host-order u32), in addition to those found. */
  localAddresses?: readonly number[];
}

/** ChecksumPolicy says which outer UDP checksum states decap drops (see DecapOptions.checksum). */
export type ChecksumPolicy = 'offload' | 'strict' | 'off';

/** CHECKSUM_POLICIES lists the policies, for flag checking. */
export const CHECKSUM_POLICIES: readonly ChecksumPolicy[] = ['offload', 'strict', 'off'];

/** ChecksumCounts counts overlay frames by outer UDP checksum state. */
export type ChecksumCounts = Record<ChecksumState, number>;

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
  /** Outer UDP checksum states of the frames to the overlay port (accepted or not). */
  checksums: ChecksumCounts;
  /** The addresses taken as local (given, or senders of partial checksums), dotted quads. */
  localAddresses: string[];
}

/** outerUdp locates a record's outer IPv4/UDP headers when it is a sound, unfragmented UDP packet. */
function outerUdp(linkType: number, buf: Buffer): { ip: number; udp: number } | undefined {
  const nl = networkLayer(linkType, buf);
  if (!nl || nl.etherType !== ETHERTYPE_IPV4) return undefined;
  const ip = nl.offset;
  if (!isValidIpv4(buf, ip, buf.length - ip) || ipv4IsFragment(buf, ip)) return undefined;
  if (ipv4Protocol(buf, ip) !== IP_PROTO_UDP) return undefined;
  const udp = ip + ipv4HeaderLength(buf, ip);
  if (!isValidUdp(buf, udp, ip + ipv4TotalLength(buf, ip) - udp)) return undefined;
  return { ip, udp };
}

/**
 * localSenders returns `given` plus every outer source address that sent a partial UDP checksum to
 * `port` in `file`: the capture saw those frames before checksum offload, so they are local.
 */
export function localSenders(
  file: PcapFile,
  port: number,
  given: readonly number[] = [],
  overlay: 'vxlan' | 'udp' = 'vxlan',
): Set<number> {
  const local = new Set<number>(given);
  for (const rec of file.records) {
    const buf = rec.data;
    const h = outerUdp(rec.linkType ?? file.linkType, buf);
    if (!h || udpDstPort(buf, h.udp) !== port) continue;
    const src = ipv4Src(buf, h.ip);
    if (local.has(src)) continue;
    const st = udpChecksumStateIpv4(
      buf,
      h.udp,
      udpLength(buf, h.udp),
      src,
      ipv4Dst(buf, h.ip),
      false,
      overlay,
    );
    if (st === 'partial') local.add(src);
  }
  return local;
}

/** newChecksumCounts returns zeroed checksum-state counters. */
export function newChecksumCounts(): ChecksumCounts {
  return { ok: 0, none: 0, partial: 0, offload: 0, bad: 0 };
}

function dropsChecksum(policy: ChecksumPolicy, st: ChecksumState): boolean {
  if (policy === 'off') return false;
  if (policy === 'strict') return st !== 'ok' && st !== 'none';
  return st === 'bad';
}

/** decapPcap unwraps every overlay frame of an underlay capture; throws FormatError on an unusable link type. */
export function decapPcap(file: PcapFile, opts: DecapOptions): DecapResult {
  if (
    !isSupportedLinkType(file.linkType) &&
    !file.records.some((r) => isSupportedLinkType(r.linkType ?? -1))
  ) {
    throw new FormatError(
      `cannot decap ${linkTypeName(file.linkType)} captures (need Ethernet, raw IP or SLL)`,
    );
  }
  const vxlan = opts.backend === 'vxlan';
  const port = opts.port ?? (vxlan ? DEFAULT_VXLAN_PORT : DEFAULT_FLANNEL_UDP_PORT);
  const policy = opts.checksum ?? 'offload';
  const local = localSenders(file, port, opts.localAddresses, opts.backend);
  const cfg: VxlanConfig = {
    vni: opts.vni ?? DEFAULT_VNI,
    localMac: Buffer.from(opts.localMac ?? Buffer.alloc(6)),
    srcPortMin: 49152,
    srcPortMax: 65535,
    // A capture between `--vxlan-rco` peers decodes too (inner checksums stay partial in the output).
    rco: true,
  };
  const res: DecapResult = {
    linkType: vxlan ? LINKTYPE_ETHERNET : LINKTYPE_RAW,
    records: [],
    sourceIndex: [],
    drops: newDropCounters(),
    anomalies: newAnomalyCounters(),
    notIpv4: 0,
    checksums: newChecksumCounts(),
    localAddresses: [...local].map(u32ToIpv4),
  };
  const drops = res.drops;
  file.records.forEach((rec, index) => {
    const buf = rec.data;
    const nl = networkLayer(rec.linkType ?? file.linkType, buf);
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
    const src = ipv4Src(buf, ip);
    const st = udpChecksumStateIpv4(buf, udp, ulen, src, ipv4Dst(buf, ip), local.has(src), opts.backend);
    res.checksums[st]++;
    if (dropsChecksum(policy, st)) {
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

/** CHECKSUM_REPORT words each state in the `weft pcap decap` report. */
const CHECKSUM_REPORT: Readonly<Record<ChecksumState, string>> = {
  ok: 'valid',
  none: 'none (zero)',
  partial: 'partial (left for checksum offload: captured before the NIC filled it in)',
  offload: 'bad, probably offload (from a local address)',
  bad: 'bad',
};

/** countsReport lists the non-zero counters as `name: n` lines (for stderr). */
export function countsReport(res: {
  drops: DropCounters;
  anomalies?: AnomalyCounters;
  notIpv4?: number;
  checksums?: ChecksumCounts;
  localAddresses?: string[];
}): string[] {
  const lines: string[] = [];
  if (res.checksums) {
    const parts = CHECKSUM_STATES.filter((k) => res.checksums![k] > 0).map(
      (k) => `${res.checksums![k]} ${CHECKSUM_REPORT[k]}`,
    );
    if (parts.length) lines.push(`outer UDP checksum: ${parts.join(', ')}`);
    if (res.localAddresses?.length && (res.checksums.partial || res.checksums.offload))
      lines.push(`local addresses (sent partial checksums or given): ${res.localAddresses.join(', ')}`);
  }
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

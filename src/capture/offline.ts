/**
 * offline: `weft capture -r FILE`, the live capture's one-line view over a saved capture (classic
 * pcap or pcapng, e.g. `tcpdump -w` from a production node). Same BPF filter (libpcap compiles it,
 * src/capture/offline-filter.ts), same decode and line, with the capture's own timestamps, TCP
 * sequence numbers relative per connection, and the capturing node's addresses taken from the file:
 * every sender of a partial outer checksum (src/pcap/decap.ts `localSenders`).
 */
import { localSenders } from '../pcap/decap';
import type { PcapFile } from '../pcap/pcap-file';
import { explainCaptured } from './explain-adapter';
import { OfflineFilter } from './offline-filter';
import { formatCaptureLine, summarizeFrame, type FrameKind, type OverlayKind } from './summarize';
import { TcpSeqTracker } from './tcp-seq';
import type { ChecksumState } from '../wire/checksum-state';

/** OfflineOptions selects and renders the records. */
export interface OfflineOptions {
  /** Overlay ports and how they are decoded. */
  ports: ReadonlyMap<number, OverlayKind>;
  /** pcap-filter(7) expression; empty passes everything. */
  filter: string;
  /** Flag VXLAN frames whose VNI differs. */
  vni?: number;
  /** Print the byte view under each line. */
  explain: boolean;
  /** Stop after this many matching frames (0: no limit). */
  count: number;
}

/** OfflineFrame is one matching record with its rendered text. */
export interface OfflineFrame {
  /** 0-based index of the record in the file. */
  index: number;
  kind: FrameKind;
  /** Outer UDP checksum state of an overlay frame over IPv4. */
  checksum?: ChecksumState;
  /** The line (and the byte view with `explain`), newline-terminated. */
  text: string;
}

/** readOffline renders every record of `file` that passes the filter, in file order. */
export function readOffline(file: PcapFile, o: OfflineOptions): OfflineFrame[] {
  const filter = o.filter ? new OfflineFilter(o.filter) : undefined;
  filter?.check(file.linkType);
  let local = new Set<number>();
  for (const p of o.ports.keys()) local = localSenders(file, p, [...local]);
  const tcpSeq = new TcpSeqTracker();
  const out: OfflineFrame[] = [];
  for (let i = 0; i < file.records.length; i++) {
    if (o.count > 0 && out.length >= o.count) break;
    const rec = file.records[i];
    const linkType = rec.linkType ?? file.linkType;
    if (filter && !filter.matches(linkType, rec.data, rec.origLen)) continue;
    const s = summarizeFrame(rec.data, {
      linkType,
      ports: o.ports,
      explain: o.explain,
      tcpSeq,
      localAddresses: local,
      wireLength: rec.origLen,
      ...(o.vni !== undefined ? { vni: o.vni } : {}),
    });
    const micros = rec.tsSec * 1e6 + Math.floor(rec.tsNsec / 1000);
    let text = formatCaptureLine(micros, s) + '\n';
    if (o.explain) text += explainCaptured(rec.data, linkType, o.ports, '    ', s.explanation) + '\n';
    const f: OfflineFrame = { index: i, kind: s.kind, text };
    if (s.outerChecksum !== undefined) f.checksum = s.outerChecksum;
    out.push(f);
  }
  return out;
}

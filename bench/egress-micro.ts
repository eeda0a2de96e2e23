/**
 * egress-micro: nanoseconds per segment of the offload egress's stages 2-4
 * (`OffloadEgress.processBatch`, src/dataplane/egress-offload.ts: TSO headers and the sum pass,
 * route, size check, VXLAN header, drops, train grouping and forming) on TUN reads shaped like the
 * kernel's: IPv4 TCP super-packets of one flow (virtio_net_hdr GSO_TCPV4 + NEEDS_CSUM, the TCP
 * checksum field holding the pseudo-header sum, 32-byte TCP headers with timestamps), and a batch
 * mixing super-packets to two peers with plain ACK-sized packets.
 *
 * Cases: 1 and 3 super-packets at MTU 1500 (path MTU 1450, MSS 1398, 46 segments of a 64 KiB
 * super-packet) and MTU 9000 (path MTU 8950, MSS 8898, 7 segments); the mix (2 + 1 super-packets
 * to two peers, 8 ACKs interleaved); and 3 super-packets with `--src-port flow` pool lanes. A plain
 * packet counts as one segment. `segment headers only` times `TsoSegmenter.segmentHeaders` alone on
 * the same super-packets, so the rest of stages 2-4 is the difference.
 *
 * Each call is one batch. Its read puts back only the first 128 bytes of each TUN read (what a
 * call overwrites: the virtio headers under the plain packets' VXLAN headers, their checksums),
 * about 1 ns per segment of the figure.
 *
 * Run: `npm run build && node dist/bench/egress-micro.js [--time MS] [--filter SUBSTRING] [--json PATH]`.
 * Profile: `node --cpu-prof dist/bench/egress-micro.js --filter SUBSTRING --loop MS` runs only the
 * stages, for MS ms per case, untimed.
 */
import fs from 'node:fs';

import { Bench } from 'tinybench';
import { EgressStages } from '../src/dataplane/egress';
import { OffloadEgress } from '../src/dataplane/egress-offload';
import { makeVxlanConfig, newDropCounters, sumCounters } from '../src/encap';
import type { PacketBatch } from '../src/io/packet-batch';
import { ipv4ToU32, macToBuffer } from '../src/net/addr';
import { TsoSegmenter } from '../src/offload/tso';
import { CountingSink } from '../src/testing/egress-rig';
import { peerSpec, routerFor } from '../src/testing/routes';
import { checksumAdd, checksumFinish, checksumFold } from '../src/wire/checksum';
import { pseudoSumIpv4 } from '../src/wire/tcp';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_SIZE,
  writeVnetHdr,
} from '../src/wire/virtio-net-hdr';

const TCP_HDR = 32;
const HDR = 20 + TCP_HDR;
/** Bytes of each read restored before a call: virtio header + headers, all a call overwrites. */
const RESTORE = 128;

/** Pkt is one TUN read: virtio header + IP packet. */
type Pkt = Buffer;

/**
 * tcpRead builds a TUN read of flow `sport` to `dst`: a super-packet of `segs` segments of `mss`
 * bytes (the last `tail` bytes when > 0), or with segs = 0 a plain ACK.
 */
function tcpRead(dst: string, sport: number, seq: number, mss: number, segs: number, tail = 0): Pkt {
  const payload = segs === 0 ? 0 : (segs - 1) * mss + (tail > 0 ? tail : mss);
  const len = HDR + payload;
  const b = Buffer.alloc(VIRTIO_NET_HDR_SIZE + len);
  const gso = segs > 1 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_NONE;
  writeVnetHdr(b, 0, VIRTIO_NET_HDR_F_NEEDS_CSUM, gso, segs > 1 ? HDR : 0, segs > 1 ? mss : 0, 20, 16);
  const o = VIRTIO_NET_HDR_SIZE;
  b[o] = 0x45;
  b.writeUInt16BE(len, o + 2);
  b.writeUInt16BE(0x1234, o + 4);
  b.writeUInt16BE(0x4000, o + 6);
  b[o + 8] = 64;
  b[o + 9] = 6;
  b.writeUInt32BE(ipv4ToU32('10.244.0.5'), o + 12);
  b.writeUInt32BE(ipv4ToU32(dst), o + 16);
  b.writeUInt16BE(checksumFinish(checksumAdd(b, o, 20, 0)), o + 10);
  const th = o + 20;
  b.writeUInt16BE(sport, th);
  b.writeUInt16BE(5201, th + 2);
  b.writeUInt32BE(seq >>> 0, th + 4);
  b.writeUInt32BE(0x1234_5678, th + 8);
  b[th + 12] = (TCP_HDR / 4) << 4;
  b[th + 13] = 0x18;
  b.writeUInt16BE(502, th + 14);
  b.writeUInt32BE(0x0101_080a, th + 20);
  b.writeUInt32BE(0x00a0_b0c0, th + 24);
  b.writeUInt32BE(0x00d0_e0f0, th + 28);
  for (let k = th + TCP_HDR; k < b.length; k++) b[k] = (k * 131) & 0xff;
  b.writeUInt16BE(checksumFold(pseudoSumIpv4(b, o, 6, len - 20)), th + 16);
  return b;
}

/** ResidentVnetTun copies its reads into the batch once; later reads restore only the headers. */
class ResidentVnetTun {
  batch: PacketBatch | null = null;
  constructor(private readonly reads: Pkt[]) {}
  onReadable(): void {}
  readBatch(batch: PacketBatch): number {
    const first = this.batch === null;
    this.batch = batch;
    for (let k = 0; k < this.reads.length; k++) {
      const p = this.reads[k]!;
      const at = batch.dataOffset(k);
      p.copy(batch.buffer, at, 0, first ? p.length : Math.min(RESTORE, p.length));
      batch.offsets[k] = at;
      batch.lengths[k] = p.length;
    }
    batch.count = this.reads.length;
    return this.reads.length;
  }
}

interface Shape {
  readonly name: string;
  readonly pathMtu: number;
  readonly lanes: number;
  readonly reads: () => Pkt[];
}

const B = '10.244.1.7';
const C = '10.244.2.9';
const mssOf = (pathMtu: number): number => pathMtu - HDR;

function superPackets(pathMtu: number, count: number, dst = B, sport = 40000): Pkt[] {
  const mss = mssOf(pathMtu);
  const segs = Math.floor((65535 - HDR) / mss);
  return Array.from({ length: count }, (_, k) =>
    tcpRead(dst, sport, 0x7fff_0000 + k * segs * mss, mss, segs),
  );
}

const SHAPES: Shape[] = [
  { name: 'MTU 1500, 1 super-packet', pathMtu: 1450, lanes: 0, reads: () => superPackets(1450, 1) },
  { name: 'MTU 1500, 3 super-packets', pathMtu: 1450, lanes: 0, reads: () => superPackets(1450, 3) },
  { name: 'MTU 9000, 1 super-packet', pathMtu: 8950, lanes: 0, reads: () => superPackets(8950, 1) },
  { name: 'MTU 9000, 3 super-packets', pathMtu: 8950, lanes: 0, reads: () => superPackets(8950, 3) },
  {
    name: 'MTU 1500, 3 super-packets, --src-port flow (16 lanes)',
    pathMtu: 1450,
    lanes: 16,
    reads: () => superPackets(1450, 3),
  },
  {
    name: 'MTU 1500, mix: 3 super-packets (2 peers, one with a short tail) + 8 ACKs',
    pathMtu: 1450,
    lanes: 0,
    reads: () => {
      const mss = mssOf(1450);
      const out: Pkt[] = [];
      for (let k = 0; k < 4; k++) out.push(tcpRead(k % 2 === 0 ? B : C, 41000 + k, 1000 * k, mss, 0));
      out.push(...superPackets(1450, 1, B, 40000));
      for (let k = 4; k < 8; k++) out.push(tcpRead(k % 2 === 0 ? B : C, 41000 + k, 1000 * k, mss, 0));
      out.push(tcpRead(C, 40001, 5, mss, 20, 700));
      out.push(...superPackets(1450, 1, B, 40002));
      return out;
    },
  },
];

interface Result {
  case: string;
  segments: number;
  nsPerSegment: number;
  segmentHeadersNsPerSegment: number;
  restNsPerSegment: number;
  rmePercent: number;
  samples: number;
}

/** result is the latency of a bench's one task, or an error when it did not complete. */
function result(b: Bench): { latency: { p50: number; rme: number; samplesCount: number } } {
  const r = b.runSync()[0]?.result;
  if (r === undefined || r.state !== 'completed') throw new Error('benchmark did not complete');
  return r;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

function build(s: Shape) {
  const router = routerFor([peerSpec('10.244.1.0/24', '192.0.2.2'), peerSpec('10.244.2.0/24', '192.0.2.3')]);
  const drops = newDropCounters();
  const stages = new EgressStages(
    { writeBatch: () => 0 },
    router,
    {
      backend: 'vxlan',
      vxlan: makeVxlanConfig({ localMac: macToBuffer('0e:00:00:00:00:01') }),
      port: 8472,
      pathMtu: s.pathMtu,
      lanes: s.lanes,
    },
    drops,
  );
  const reads = s.reads();
  const tun = new ResidentVnetTun(reads);
  const sink = new CountingSink();
  const egress = new OffloadEgress(tun, sink, stages, { prefix: 22, pathMtu: s.pathMtu });
  egress.drain();
  const segments = sink.datagrams;
  if (segments < reads.length || sumCounters(drops) !== 0) {
    throw new Error(`${s.name}: ${segments} datagrams, drops ${drops.join(',')}`);
  }
  return { egress, tun, reads, segments, drops };
}

function main(): void {
  const time = Number(arg('--time') ?? 1000);
  const filter = arg('--filter') ?? '';
  const json = arg('--json');
  const loop = Number(arg('--loop') ?? 0);
  const results: Result[] = [];
  for (const s of SHAPES.filter((x) => x.name.includes(filter))) {
    const { egress, tun, reads, segments, drops } = build(s);
    const n = reads.length;
    const batch = tun.batch!;
    if (loop > 0) {
      // Profiling (`node --cpu-prof`): only the full stages, in a plain loop.
      const end = Date.now() + loop;
      while (Date.now() < end) {
        for (let i = 0; i < 100; i++) {
          tun.readBatch(batch);
          egress.processBatch(n);
        }
      }
      continue;
    }
    const full = new Bench({ time, warmupTime: 300, throws: true });
    full.add(s.name, () => {
      tun.readBatch(batch);
      egress.processBatch(n);
    });
    const r = result(full);
    if (sumCounters(drops) !== 0) throw new Error(`${s.name}: drops ${drops.join(',')}`);
    // The TSO step alone, on the same super-packets.
    const seg = new TsoSegmenter(512);
    const hdrs = Buffer.alloc(256 * 512);
    const supers = reads.filter((p) => p[1] !== 0);
    const alone = new Bench({ time, warmupTime: 300, throws: true });
    alone.add('segmentHeaders', () => {
      let at = 0;
      for (const p of supers) {
        const k = seg.segmentHeaders(p, 0, 10, p.length - 10, hdrs, at, 256, hdrs.length, 22, s.pathMtu);
        if (k < 1) throw new Error('segmentHeaders refused');
        at += k * 256;
      }
    });
    const a = result(alone);
    const ns = (r.latency.p50 * 1e6) / segments;
    const nsSeg = (a.latency.p50 * 1e6) / segments;
    const row: Result = {
      case: s.name,
      segments,
      nsPerSegment: ns,
      segmentHeadersNsPerSegment: nsSeg,
      restNsPerSegment: ns - nsSeg,
      rmePercent: r.latency.rme,
      samples: r.latency.samplesCount,
    };
    results.push(row);
    console.log(
      `${s.name.padEnd(72)} ${ns.toFixed(1).padStart(6)} ns/segment (${segments} segments; ` +
        `segmentHeaders ${nsSeg.toFixed(1)}, the rest ${(ns - nsSeg).toFixed(1)}; rme ${r.latency.rme.toFixed(1)} %)`,
    );
  }
  if (json !== undefined) {
    fs.writeFileSync(json, JSON.stringify({ date: new Date().toISOString(), time, results }, null, 2) + '\n');
  }
}

main();

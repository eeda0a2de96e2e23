/**
 * ingress-micro: nanoseconds per segment of the offload ingress's stages 2-3
 * (`OffloadIngress.processBatch`, src/dataplane/ingress-offload.ts: source check, VXLAN decap,
 * TCP coalescing with its native sum-only pass) on receives shaped like what `recvmmsg` with
 * UDP_GRO hands the receiving weft: GRO trains of one flow's VXLAN datagrams, contiguous in their
 * slot, each a full-size TCP segment with timestamps (the last of a train with PSH), from a known
 * peer to our VTEP MAC.
 *
 * Cases: MTU 1500 (underlay; inner MSS 1398, 44 datagrams per train) with complete checksums (a
 * weft peer) and with partial ones (a kernel peer over veth leaves the pseudo-header sum), and
 * MTU 9000 (MSS 8898, 7 per train); 4 trains per receive. `decap only` times
 * `IngressStages.processBatch` (stages 2-4 of ingress.ts) alone on the same receives, so the
 * coalescer's share is the difference.
 *
 * The receive itself is not timed: before each call the descriptors are set again (a copy of
 * two small typed arrays) and the bytes the last call overwrote put back (each output's virtio
 * header and first packet's headers). The TUN write is not called.
 *
 * Run: `npm run build && node dist/bench/ingress-micro.js [--rounds 9] [--time 300] [--json PATH]`.
 * Profile: `node --cpu-prof dist/bench/ingress-micro.js --filter SUBSTRING --loop MS` runs only
 * the stages, for MS ms per case, untimed.
 */
import fs from 'node:fs';

import { IngressStages } from '../src/dataplane/ingress';
import { OffloadIngress } from '../src/dataplane/ingress-offload';
import { makeVxlanConfig, newAnomalyCounters, newDropCounters, sumCounters } from '../src/encap';
import type { BatchUdpSocket } from '../src/io/batch-udp-socket';
import type { PacketBatch } from '../src/io/packet-batch';
import type { Tun } from '../src/io/tun';
import { ipv4ToU32 } from '../src/net/addr';
import { RouteTable, indexPeers } from '../src/route/route-table';
import { Router } from '../src/route/router';
import { checksumAdd, checksumFinish, checksumFold } from '../src/wire/checksum';
import { pseudoSumIpv4 } from '../src/wire/tcp';
import { writeVxlanHeader } from '../src/wire/vxlan';

const PEER = '192.0.2.1';
const MAC_LOCAL = Buffer.from('0e0000000b02', 'hex');
const MAC_PEER = Buffer.from('0e0000000a01', 'hex');
const VNI = 1;
/** VXLAN (8) + inner Ethernet (14) in front of each inner packet. */
const PREFIX = 22;
const TCP_HDR = 32; // with the timestamps option, as Linux sends
const HDR = 20 + TCP_HDR;
const TRAINS = 4;
/** Bytes put back from each output's first descriptor: virtio header + the first packet's headers. */
const RESTORE = 10 + HDR;

interface Shape {
  readonly name: string;
  readonly mss: number;
  readonly partial: boolean;
}

const SHAPES: Shape[] = [
  { name: 'MTU 1500, complete checksums (weft peer)', mss: 1398, partial: false },
  { name: 'MTU 1500, partial checksums (kernel peer)', mss: 1398, partial: true },
  { name: 'MTU 9000, complete checksums (weft peer)', mss: 8898, partial: false },
];

/** Receive is one recvmmsg's worth of datagrams: descriptors and a pristine copy of the bytes. */
interface Receive {
  readonly count: number;
  readonly offs: Uint32Array;
  readonly lens: Uint32Array;
  readonly pristine: Buffer;
}

/** build writes TRAINS GRO trains of `s` into `batch`'s slots and returns the receive. */
function build(s: Shape, batch: PacketBatch): Receive {
  const len = HDR + s.mss;
  const frame = PREFIX + len;
  const perTrain = Math.floor(65535 / frame);
  const n = TRAINS * perTrain;
  const buf = batch.buffer;
  const offs = new Uint32Array(n);
  const lens = new Uint32Array(n);
  let seq = 0x7fff_f000; // crosses 2^31 within the run
  let rnd = 12345;
  for (let i = 0; i < n; i++) {
    const t = Math.floor(i / perTrain);
    const at = batch.dataOffset(t) + (i % perTrain) * frame;
    offs[i] = at;
    lens[i] = frame;
    writeVxlanHeader(buf, at, VNI);
    MAC_LOCAL.copy(buf, at + 8);
    MAC_PEER.copy(buf, at + 14);
    buf.writeUInt16BE(0x0800, at + 20);
    const off = at + PREFIX;
    buf[off] = 0x45;
    buf[off + 1] = 0;
    buf.writeUInt16BE(len, off + 2);
    buf.writeUInt16BE(i & 0xffff, off + 4);
    buf.writeUInt16BE(0x4000, off + 6);
    buf[off + 8] = 64;
    buf[off + 9] = 6;
    buf.writeUInt16BE(0, off + 10);
    buf.writeUInt32BE(0x0af4_0102, off + 12);
    buf.writeUInt32BE(0x0af4_0203, off + 16);
    buf.writeUInt16BE(checksumFinish(checksumAdd(buf, off, 20, 0)), off + 10);
    const th = off + 20;
    buf.writeUInt16BE(40000, th);
    buf.writeUInt16BE(5201, th + 2);
    buf.writeUInt32BE(seq >>> 0, th + 4);
    buf.writeUInt32BE(0x1234_5678, th + 8);
    buf[th + 12] = (TCP_HDR / 4) << 4;
    buf[th + 13] = i % perTrain === perTrain - 1 ? 0x18 : 0x10;
    buf.writeUInt16BE(502, th + 14);
    buf.writeUInt16BE(0, th + 16);
    buf.writeUInt16BE(0, th + 18);
    buf.writeUInt32BE(0x0101_080a, th + 20); // NOP NOP TS
    buf.writeUInt32BE(0x00a0_b0c0, th + 24);
    buf.writeUInt32BE(0x00d0_e0f0, th + 28);
    for (let k = th + TCP_HDR; k < off + len; k++) {
      rnd = (Math.imul(rnd, 1103515245) + 12345) | 0;
      buf[k] = rnd >>> 24;
    }
    const ps = pseudoSumIpv4(buf, off, 6, len - 20);
    buf.writeUInt16BE(
      s.partial ? checksumFold(ps) : checksumFinish(checksumAdd(buf, th, len - 20, ps)),
      th + 16,
    );
    seq = (seq + s.mss) | 0;
  }
  return { count: n, offs, lens, pristine: Buffer.from(buf) };
}

/** timeRounds runs `call` for `ms` per round, `rounds` times; returns ns per call per round. */
function timeRounds(call: () => void, rounds: number, ms: number): number[] {
  for (let i = 0; i < 200; i++) call(); // warm-up: tiers up before timing
  const out: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let calls = 0;
    const t0 = process.hrtime.bigint();
    const limit = BigInt(ms) * 1_000_000n;
    let t = t0;
    while (t - t0 < limit) {
      for (let i = 0; i < 20; i++) call();
      calls += 20;
      t = process.hrtime.bigint();
    }
    out.push(Number(t - t0) / calls);
  }
  return out;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
};

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
}

function router(): Router {
  const r = new Router();
  const peer = {
    subnet: '10.244.1.0/24',
    publicIp: PEER,
    publicIpU32: ipv4ToU32(PEER),
    vtepMac: MAC_PEER,
    backend: 'vxlan' as const,
  };
  r.swap(RouteTable.build(indexPeers([peer])));
  return r;
}

function main(): void {
  const rounds = arg('--rounds', 9);
  const ms = arg('--time', 300);
  const loop = arg('--loop', 0);
  const fi = process.argv.indexOf('--filter');
  const filter = fi < 0 ? '' : process.argv[fi + 1]!;
  const ji = process.argv.indexOf('--json');
  const results: Array<Record<string, unknown>> = [];
  const from = ipv4ToU32(PEER);
  for (const s of SHAPES) {
    if (!s.name.includes(filter)) continue;
    const drops = newDropCounters();
    const cfg = { backend: 'vxlan' as const, vxlan: makeVxlanConfig({ vni: VNI, localMac: MAC_LOCAL }) };
    const stages = new IngressStages(router(), cfg, drops, newAnomalyCounters());
    // Neither device is called: processBatch runs stages 2-3 only.
    const ing = new OffloadIngress({} as Tun, {} as BatchUdpSocket, stages, {
      gro: true,
      coalesce: true,
      maxDatagram: 1472,
      mtu: s.mss + HDR,
    });
    const batch = (ing as unknown as { batch: PacketBatch }).batch;
    const r = build(s, batch);
    const n = r.count;
    const buf = batch.buffer;
    const offsets = batch.offsets;
    const lengths = batch.lengths;
    batch.addrs.fill(from);
    const outSegs = (ing as unknown as { coalescer: { outSegs: Uint16Array } }).coalescer.outSegs;
    let outs = 0;
    const receive = (): void => {
      offsets.set(r.offs);
      lengths.set(r.lens);
      batch.count = n;
    };
    const full = (): void => {
      // The last call wrote each output's virtio header and first headers: put them back.
      for (let k = 0; k < outs; k++) {
        if (outSegs[k] === 0) continue;
        const o = offsets[k]!;
        r.pristine.copy(buf, o, o, o + RESTORE);
      }
      receive();
      outs = ing.processBatch();
    };
    const decapOnly = (): void => {
      receive();
      stages.processBatch(batch);
    };
    full();
    const outputs = ing.coalesceStats!.packetsOut;
    if (outputs !== TRAINS || sumCounters(drops) !== 0)
      throw new Error(`${s.name}: ${outputs} outputs, ${sumCounters(drops)} dropped`);
    if (loop > 0) {
      const end = Date.now() + loop;
      while (Date.now() < end) for (let i = 0; i < 20; i++) full();
      continue;
    }
    const t = timeRounds(full, rounds, ms).map((x) => x / n);
    if (sumCounters(drops) !== 0 || ing.coalesceStats!.packetsOut % TRAINS !== 0)
      throw new Error(`${s.name}: drops or a split output after timing`);
    // Decap alone writes nothing: the bytes as received, once.
    r.pristine.copy(buf);
    const d = timeRounds(decapOnly, rounds, ms).map((x) => x / n);
    if (sumCounters(drops) !== 0) throw new Error(`${s.name}: drops in decap only`);
    const res = {
      case: s.name,
      segments: n,
      nsPerSegment: median(t),
      decapNsPerSegment: median(d),
      rounds: t,
      decapRounds: d,
    };
    results.push(res);
    console.log(
      `${s.name.padEnd(44)} ${res.nsPerSegment.toFixed(1).padStart(7)} ns/segment ` +
        `(decap only ${res.decapNsPerSegment.toFixed(1)}; rounds ${Math.min(...t).toFixed(1)}-` +
        `${Math.max(...t).toFixed(1)}, decap ${Math.min(...d).toFixed(1)}-${Math.max(...d).toFixed(1)})`,
    );
  }
  if (ji >= 0)
    fs.writeFileSync(
      process.argv[ji + 1]!,
      JSON.stringify({ date: new Date().toISOString(), results }, null, 2),
    );
}

main();

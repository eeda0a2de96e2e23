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
import type { Router } from '../src/route/router';
import { peerSpec, routerFor } from '../src/testing/routes';
import { writeVxlanHeader } from '../src/wire/vxlan';
import { PREFIX, TCP_HDR, median, nsPerCall, numArg, writeTcpSegment } from './micro-trains';

const PEER = '192.0.2.1';
const MAC_LOCAL = Buffer.from('0e0000000b02', 'hex');
const MAC_PEER = Buffer.from('0e0000000a01', 'hex');
const VNI = 1;
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
    const psh = i % perTrain === perTrain - 1;
    const seg = { v6: false, len, ipId: i, sport: 40000, seq, psh, partial: s.partial };
    rnd = writeTcpSegment(buf, at + PREFIX, seg, rnd);
    seq = (seq + s.mss) | 0;
  }
  return { count: n, offs, lens, pristine: Buffer.from(buf) };
}

function router(): Router {
  return routerFor([peerSpec('10.244.1.0/24', PEER, 'vxlan', MAC_PEER)]);
}

function main(): void {
  const rounds = numArg('--rounds', 9);
  const ms = numArg('--time', 300);
  const loop = numArg('--loop', 0);
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
    const t = nsPerCall(full, rounds, ms, 20).map((x) => x / n);
    if (sumCounters(drops) !== 0 || ing.coalesceStats!.packetsOut % TRAINS !== 0)
      throw new Error(`${s.name}: drops or a split output after timing`);
    // Decap alone writes nothing: the bytes as received, once.
    r.pristine.copy(buf);
    const d = nsPerCall(decapOnly, rounds, ms, 20).map((x) => x / n);
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

/**
 * egress-lanes: CPU per datagram of the offload egress's stages 2-4 (`OffloadEgress.processBatch`:
 * unpack / TSO cut, route + encapsulation, grouping, trains), with and without `--src-port flow`
 * pool lanes, over in-memory fakes (no TUN, no socket, one core):
 *   tso    8 copies of the offload fixture's largest kernel TSO super-packet per batch (one TCP
 *          flow, scatter-gather segments; what a single TCP stream sends),
 *   mixed  32 plain 64-byte UDP packets of 4 flows interleaved packet by packet (4 lanes).
 * The lanes' cost is the `flow` row minus the `fixed` row. Rows alternate, `--reps` times each;
 * figures are medians. Prints the datagrams per UDP GSO message too.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/egress-lanes.js [--json PATH] [--time MS] [--filter SUBSTRING] [--reps N]
 *
 * `--time` per row and repetition (default 300), `--reps` (default 7), `--filter` keeps the rows
 * whose case name contains it. The egress and its peer are src/testing/egress-rig.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { EgressStages } from '../src/dataplane/egress';
import type { OffloadEgress } from '../src/dataplane/egress-offload';
import type { PacketBatch } from '../src/io/packet-batch';
import { ipv4ToU32, u32ToIpv4 } from '../src/net/addr';
import { isGso } from '../src/offload/tso';
import { FLOW_DST, egressRig, flowPacket, flowsOnDistinctLanes, type CountingSink } from '../src/testing';
import { VIRTIO_NET_HDR_SIZE } from '../src/wire/virtio-net-hdr';
import { median } from '../src/benchsuite/measure';
import { runMain, writeBenchRecord, type BenchArgs } from './harness';

const USAGE =
  'usage: node dist/bench/egress-lanes.js [--json PATH] [--time MS] [--filter SUBSTRING] [--reps N]';

/**
 * SlotTun holds fixed reads in the batch's read slots; each read only restores the descriptors
 * and the virtio-net headers (a plain packet's encapsulation writes over its header in place).
 */
class SlotTun {
  private batch: PacketBatch | null = null;
  private readonly vnet: Buffer[];
  constructor(private readonly reads: Buffer[]) {
    this.vnet = reads.map((r) => r.subarray(0, VIRTIO_NET_HDR_SIZE));
  }
  onReadable(): void {}
  readBatch(batch: PacketBatch, max = batch.capacity): number {
    const n = Math.min(max, this.reads.length);
    if (this.batch !== batch) {
      this.batch = batch;
      for (let k = 0; k < n; k++) this.reads[k]!.copy(batch.buffer, batch.dataOffset(k));
    }
    for (let k = 0; k < n; k++) {
      batch.buffer.set(this.vnet[k]!, batch.dataOffset(k));
      batch.offsets[k] = batch.dataOffset(k);
      batch.lengths[k] = this.reads[k]!.length;
    }
    batch.count = n;
    return n;
  }
}

function fixtureSuperPacket(): Buffer {
  const f = fs.readFileSync(
    path.join(__dirname, '..', '..', 'test', 'fixtures', 'offload', 'kernel-vnet-tcp.bin'),
  );
  let best = Buffer.alloc(0);
  for (let o = 0; o < f.length;) {
    const len = f.readUInt32LE(o);
    const r = f.subarray(o + 4, o + 4 + len);
    if (isGso(r, 0) && r[VIRTIO_NET_HDR_SIZE]! >> 4 === 4 && r.length > best.length) best = Buffer.from(r);
    o += 4 + len;
  }
  return best;
}

interface Setup {
  egress: OffloadEgress;
  tun: SlotTun;
  stages: EgressStages;
  sink: CountingSink;
}

function setup(reads: Buffer[], dst: number, lanes: number): Setup {
  const tun = new SlotTun(reads);
  return { ...egressRig(tun, { lanes, subnet: `${u32ToIpv4(dst & 0xffffff00)}/24` }), tun };
}

/** run drains for `ms` and returns ns per datagram and datagrams per message. */
function run(s: Setup, ms: number): { ns: number; perMsg: number } {
  const p0 = s.stages.packets;
  const m0 = s.sink.messages;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(ms) * 1_000_000n;
  let t = t0;
  while (t < end) {
    for (let k = 0; k < 50; k++) s.egress.drain();
    t = process.hrtime.bigint();
  }
  const pkts = s.stages.packets - p0;
  if (s.stages.drops.some((d) => d !== 0)) throw new Error(`drops: ${s.stages.drops.join(',')}`);
  return { ns: Number(t - t0) / pkts, perMsg: pkts / (s.sink.messages - m0) };
}

async function main(args: BenchArgs): Promise<number> {
  const ms = args.time;
  const reps = args.extra['--reps']!;
  const sp = fixtureSuperPacket();
  const spDst = sp.readUInt32BE(VIRTIO_NET_HDR_SIZE + 16);
  const tso = Array.from({ length: 8 }, () => sp);
  // Four UDP flows that hash to four different lanes of 16, behind a virtio-net header.
  const dst = ipv4ToU32(FLOW_DST);
  const sports = flowsOnDistinctLanes(4, 16);
  const mixed = Array.from({ length: 32 }, (_, k) =>
    Buffer.concat([Buffer.alloc(VIRTIO_NET_HDR_SIZE), flowPacket(sports[k % 4]!)]),
  );
  const rows: [string, Setup][] = (
    [
      ['tso, fixed', () => setup(tso, spDst, 0)],
      ['tso, flow (16 lanes)', () => setup(tso, spDst, 16)],
      ['mixed 4 flows, fixed', () => setup(mixed, dst, 0)],
      ['mixed 4 flows, flow (16 lanes)', () => setup(mixed, dst, 16)],
    ] as const
  )
    .filter(([name]) => name.includes(args.filter))
    .map(([name, make]) => [name, make()]);
  if (rows.length === 0) {
    console.error(`no case matches --filter ${args.filter}`);
    return 2;
  }
  for (const [, s] of rows) run(s, 100); // warm up every shape before timing any
  const ns = rows.map(() => [] as number[]);
  const per = rows.map(() => 0);
  for (let r = 0; r < reps; r++) {
    rows.forEach(([, s], k) => {
      const x = run(s, ms);
      ns[k]!.push(x.ns);
      per[k] = x.perMsg;
    });
  }
  console.log('| case | ns per datagram (median) | datagrams per GSO message |');
  console.log('|---|---:|---:|');
  rows.forEach(([name], k) =>
    console.log(`| ${name} | ${median(ns[k]!).toFixed(1)} | ${per[k]!.toFixed(1)} |`),
  );
  if (args.json !== null)
    writeBenchRecord(args.json, {
      reps,
      rows: rows.map(([name], k) => ({
        case: name,
        nsPerDatagram: median(ns[k]!),
        datagramsPerMessage: per[k],
        rounds: ns[k],
      })),
    });
  return 0;
}

runMain([], __filename, { usage: USAGE, time: 300, extra: { '--reps': 7 } }, main);

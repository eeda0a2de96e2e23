/**
 * csum: the addon's RFC 1071 sum loops side by side (native/src/csum.cc: `scalar`, and where the
 * CPU runs them `sse2` and `avx2`), on the shape the fast path gives them: one 64 KiB TUN
 * super-packet (or GRO train) summed as per-segment plan entries in ONE `csumCopyVariant` call,
 * as `TsoSegmenter.segmentHeaders` (egress) and the coalescer (ingress) do. Run with
 * `npx tsc -p tsconfig.json && node dist/bench/csum.js [--json PATH] [--time MS] [--filter SUBSTRING]`
 * (`--time` per case, default 1000; `--filter` keeps the cases whose `variant segment pass
 * working-set` line contains it, e.g. `avx2`, `copy`, `memory`).
 *
 * Cases: segment payloads of 1448 bytes (MTU 1500) and 8948 (MTU 9000), sum only and copy + sum,
 * with the super-packets in a 512 KiB working set (in L2: a packet read a moment ago) and a
 * 64 MiB one (from memory). Figures: GB/s of bytes summed (1 GB = 1e9 bytes) and ns per 64 KiB
 * super-packet, median of 5 timed rounds, one core. Every variant's sums are checked against the
 * JavaScript reference first, so a fast wrong loop cannot be measured.
 */
import { loadBinding } from '../src/io/binding';
import { SUM_ONLY } from '../src/offload/csum-copy';
import { checksumAdd, checksumFold } from '../src/wire/checksum';
import { median } from '../src/benchsuite/measure';
import { runMain, timeRounds, writeBenchRecord, type BenchArgs } from './harness';

const USAGE = 'usage: node dist/bench/csum.js [--json PATH] [--time MS] [--filter SUBSTRING]';

const SUPER = 65536;

interface Row {
  variant: string;
  segment: number;
  pass: string;
  workingSet: string;
  gbPerSec: number;
  nsPerSuperPacket: number;
  rounds: number[];
}

async function main(args: BenchArgs): Promise<number> {
  const ms = args.time;
  const b = loadBinding();
  const { active, supported } = b.csumVariants();
  const rows: Row[] = [];
  for (const [label, size] of [
    ['512 KiB (in L2)', 512 * 1024],
    ['64 MiB (memory)', 64 * 1024 * 1024],
  ] as const) {
    const src = Buffer.alloc(size);
    let x = 1;
    for (let i = 0; i < size; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      src[i] = x >>> 24;
    }
    const dst = Buffer.alloc(size);
    dst.fill(1);
    for (const segment of [1448, 8948]) {
      const per = Math.floor(SUPER / segment);
      const bytes = per * segment;
      const plan = new Uint32Array(3 * per);
      const sums = new Uint32Array(per);
      for (const pass of ['sum only', 'copy + sum']) {
        for (const variant of supported) {
          if (!`${variant} ${segment} ${pass} ${label}`.includes(args.filter)) continue;
          let at = 0;
          const setPlan = (): void => {
            for (let k = 0; k < per; k++) {
              plan[3 * k] = at + k * segment;
              plan[3 * k + 1] = pass === 'sum only' ? SUM_ONLY : at + k * segment;
              plan[3 * k + 2] = segment;
            }
          };
          setPlan();
          b.csumCopyVariant(variant, src, dst, plan, per, sums);
          for (let k = 0; k < per; k++) {
            const want = checksumFold(checksumAdd(src, k * segment, segment, 0));
            if (sums[k] !== want) throw new Error(`${variant}: wrong sum for segment ${k}`);
          }
          const fn = (): void => {
            setPlan();
            b.csumCopyVariant(variant, src, dst, plan, per, sums);
            at = (at + SUPER) % size;
          };
          timeRounds(bytes, fn, 100); // warm up: page faults, JIT
          const r = timeRounds(bytes, fn, ms);
          const gb = median(r);
          rows.push({
            variant,
            segment,
            pass,
            workingSet: label,
            gbPerSec: gb,
            nsPerSuperPacket: bytes / gb,
            rounds: r,
          });
        }
      }
    }
  }
  if (rows.length === 0) {
    console.error(`no case matches --filter ${args.filter}`);
    return 2;
  }
  console.log(`active variant (csumCopy): ${active}`);
  console.table(
    rows.map((r) => ({
      variant: r.variant,
      segment: r.segment,
      pass: r.pass,
      'working set': r.workingSet,
      'GB/s': r.gbPerSec.toFixed(2),
      'ns / 64 KiB': Math.round(r.nsPerSuperPacket),
    })),
  );
  if (args.json !== null) writeBenchRecord(args.json, { active, rows });
  return 0;
}

runMain([], __filename, { usage: USAGE, time: 1000 }, main);

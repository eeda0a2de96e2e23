/**
 * copy-bw: how fast this machine moves and sums payload bytes on one core, the unit of the
 * copy-bound ceiling in docs/performance.md. Run with
 * `npx tsc -p tsconfig.json && node dist/bench/copy-bw.js [--json PATH] [--time MS] [--filter SUBSTRING]`
 * (`--time` per case, default 2000; `--filter` keeps the cases whose `pass working-set` line
 * contains it, e.g. `memcpy`, `L2`).
 *
 * Three passes over 64 KiB chunks (one TUN super-packet / one GSO train each), each for a source
 * that fits in the L2 cache (256 KiB, the hot case: a packet read a moment ago) and one that does
 * not (64 MiB, the cold case):
 *   memcpy      Buffer#copy (libc memmove): what the kernel's copy_to_iter / copy_from_iter do
 *               per byte on a TUN read or write and a UDP send or receive (rep movsb / a
 *               memcpy loop, no checksum: the UDP checksum is offloaded on veth)
 *   csumCopy    weft's native copy-and-sum pass (RFC 1071): TSO segmenting, coalescing
 *   sum only    the same pass without the write (csumCopy with SUM_ONLY): a checksum check
 * Figures are GB/s of source bytes (1 GB = 1e9 bytes), the median of 5 timed rounds.
 */
import { CsumCopier, SUM_ONLY } from '../src/offload/csum-copy';
import { loadBinding } from '../src/io/binding';
import { median } from '../src/benchsuite/measure';
import { runMain, timeRounds, writeBenchRecord, type BenchArgs } from './harness';

const USAGE = 'usage: node dist/bench/copy-bw.js [--json PATH] [--time MS] [--filter SUBSTRING]';

const CHUNK = 64 * 1024;

interface Row {
  pass: string;
  workingSet: string;
  gbPerSec: number;
  rounds: number[];
}

async function main(args: BenchArgs): Promise<number> {
  const ms = args.time;
  loadBinding(); // fail loudly rather than measure the JavaScript fallback
  const rows: Row[] = [];
  for (const [label, size] of [
    ['256 KiB (in L2)', 256 * 1024],
    ['64 MiB (memory)', 64 * 1024 * 1024],
  ] as const) {
    const src = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4096) src[i] = i & 255;
    const dst = Buffer.alloc(size);
    dst.fill(1);
    const chunks = size / CHUNK;
    const copier = new CsumCopier(chunks);
    let at = 0;
    const memcpy = (): void => {
      src.copy(dst, at, at, at + CHUNK);
      at = (at + CHUNK) % size;
    };
    const csumCopy = (): void => {
      copier.add(at, at, CHUNK);
      copier.run(src, dst);
      at = (at + CHUNK) % size;
    };
    const sumOnly = (): void => {
      copier.add(at, SUM_ONLY, CHUNK);
      copier.run(src, dst);
      at = (at + CHUNK) % size;
    };
    for (const [pass, fn] of [
      ['memcpy', memcpy],
      ['csumCopy (copy + sum)', csumCopy],
      ['sum only', sumOnly],
    ] as const) {
      if (!`${pass} ${label}`.includes(args.filter)) continue;
      timeRounds(CHUNK, fn, 200); // warm up: page faults, JIT
      const r = timeRounds(CHUNK, fn, ms);
      rows.push({ pass, workingSet: label, gbPerSec: median(r), rounds: r });
    }
  }
  if (rows.length === 0) {
    console.error(`no case matches --filter ${args.filter}`);
    return 2;
  }
  console.table(
    rows.map((r) => ({ pass: r.pass, 'working set': r.workingSet, 'GB/s': r.gbPerSec.toFixed(2) })),
  );
  if (args.json !== null) writeBenchRecord(args.json, { chunkBytes: CHUNK, rows });
  return 0;
}

runMain([], __filename, { usage: USAGE, time: 2000 }, main);

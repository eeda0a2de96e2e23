/**
 * harness: what the microbenchmarks (bench/micro.ts, capture.ts, csum.ts, copy-bw.ts,
 * egress-lanes.ts) share to measure speed and allocation the same way: one command line
 * (`--json --time --filter`, `--help`), re-executing under fixed V8 flags, a GC counter, a
 * heap-delta allocation measurement that is only trusted when no GC ran during it, timed rounds,
 * and the JSON record.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { PerformanceObserver } from 'node:perf_hooks';
import { spawnSync } from 'node:child_process';
import { parseArgv } from '../src/cli/args';

/**
 * reexecUnder runs `script` again under `flags` (with this process's argv) unless they are already
 * in effect; returns its exit code, or null when this process already has them.
 */
export function reexecUnder(flags: readonly string[], script: string): number | null {
  if (flags.every((f) => process.execArgv.includes(f))) return null;
  const r = spawnSync(process.execPath, [...flags, ...process.execArgv, script, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  return r.status ?? 1;
}

/** getGc returns V8's gc(); falls back to enabling it at run time if the flag is somehow missing. */
export function getGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g !== undefined) return g;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/** settle waits long enough for queued PerformanceObserver 'gc' entries to be delivered. */
export function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 50));
}

/** gcCounter starts counting garbage collections: `count()` reads the count, `stop()` ends it. */
export function gcCounter(): { count: () => number; stop: () => void } {
  let gcs = 0;
  const obs = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  obs.observe({ entryTypes: ['gc'] });
  return { count: () => gcs, stop: () => obs.disconnect() };
}

/**
 * measureHeap runs `step` `warmup` times, then measures `windows` windows of `calls` runs each
 * (garbage collected twice before each) and returns the cleanest: the smallest heap growth in
 * bytes among the windows without a GC, and the GCs seen in it (the growth is the allocation only
 * when `gcs` is 0; if every window saw a GC, the one with the fewest), and `steps`, how many times
 * `step` ran in all (warmup included).
 *
 * Why several windows: a function the concurrent compiler has not optimised yet runs in the
 * interpreter or baseline code, which boxes numbers (heap numbers) that optimised code keeps in
 * registers. On a loaded machine the optimised code can land in the middle of the first window
 * (measured: 0.4-3 B/packet in one window, the same code, 0.4 B with synchronous compilation),
 * so a single window measures the compiler's timing. Allocation by the hot path itself shows in
 * every window, so the minimum still catches it.
 */
export async function measureHeap(
  step: () => void,
  warmup: number,
  calls: number,
  gc: () => void,
  gcCount: () => number,
  windows = 3,
): Promise<{ bytes: number; gcs: number; steps: number }> {
  for (let i = 0; i < warmup; i++) step();
  let best: { bytes: number; gcs: number } | null = null;
  for (let w = 0; w < Math.max(1, windows); w++) {
    gc();
    gc();
    // GC observer entries arrive asynchronously; let those of the forced collections land first.
    await settle();
    const gcsBefore = gcCount();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < calls; i++) step();
    const after = process.memoryUsage().heapUsed;
    await settle();
    const m = { bytes: Math.max(0, after - before), gcs: gcCount() - gcsBefore };
    if (best === null || m.gcs < best.gcs || (m.gcs === best.gcs && m.bytes < best.bytes)) best = m;
  }
  return { ...best!, steps: warmup + Math.max(1, windows) * calls };
}

/**
 * runMain re-executes under `flags` if needed; else parses the command line (`parseBenchArgs` with
 * `usage`, `extra` and the default `time`; a bad one prints the error and exits 2), runs `main`
 * with it and sets the exit code.
 */
export function runMain(
  flags: readonly string[],
  script: string,
  cli: { usage: string; extra?: Record<string, number>; time?: number },
  main: (args: BenchArgs) => Promise<number>,
): void {
  const reexecCode = reexecUnder(flags, script);
  if (reexecCode !== null) {
    process.exitCode = reexecCode;
    return;
  }
  let args: BenchArgs;
  try {
    args = parseBenchArgs(process.argv.slice(2), cli.usage, cli.extra, cli.time);
  } catch (e) {
    console.error((e as Error).message);
    process.exitCode = 2;
    return;
  }
  main(args).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}

/** BenchArgs are the flags every microbenchmark takes, plus its own numeric `extra` ones. */
export interface BenchArgs {
  json: string | null;
  time: number;
  filter: string;
  extra: Record<string, number>;
}

/**
 * parseBenchArgs reads `--json PATH --time MS --filter SUBSTRING` (`--time` default `time` ms) and
 * the positive numeric flags in `extra` (name -> default), with src/cli/args.ts; `--help` prints
 * `usage` and exits. Throws Error naming the bad flag, then the usage, on a bad command line.
 */
export function parseBenchArgs(
  argv: string[],
  usage: string,
  extra: Record<string, number> = {},
  time = 500,
): BenchArgs {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage);
    process.exit(0);
  }
  const names = Object.keys(extra) as `--${string}`[];
  let a;
  try {
    a = parseArgv(argv, { value: ['--json', '--time', '--filter', ...names] });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${usage}`);
  }
  const num = (flag: string, dflt: number): number => {
    const v = a.get(flag as never);
    const n = v === undefined ? dflt : Number(v);
    if (!(n > 0)) throw new Error(`${flag} must be a number > 0 ("${v}")\n${usage}`);
    return n;
  };
  const out: BenchArgs = {
    json: a.get('--json') ?? null,
    time: num('--time', time),
    filter: a.get('--filter') ?? '',
    extra: {},
  };
  for (const f of names) out.extra[f] = num(f, extra[f]!);
  return out;
}

/**
 * timeRounds calls `call` for `ms` milliseconds in 5 rounds (8 calls between clock reads) and
 * returns each round's bytes per nanosecond (GB/s), `bytesPerCall` bytes per call.
 */
export function timeRounds(bytesPerCall: number, call: () => void, ms: number): number[] {
  const out: number[] = [];
  for (let round = 0; round < 5; round++) {
    let calls = 0;
    const t0 = process.hrtime.bigint();
    let t = t0;
    const limit = BigInt(Math.round((ms * 1e6) / 5));
    while (t - t0 < limit) {
      for (let i = 0; i < 8; i++) call();
      calls += 8;
      t = process.hrtime.bigint();
    }
    out.push((calls * bytesPerCall) / Number(t - t0));
  }
  return out;
}

/**
 * writeBenchRecord writes `body` as the JSON record at `file` (directories made), after the
 * fields every record has: date, command, machine, load average. Says where it wrote.
 */
export function writeBenchRecord(file: string, body: Record<string, unknown>): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const script = path.relative(process.cwd(), process.argv[1] ?? '');
  const record = {
    date: new Date().toISOString(),
    command: `node ${script} ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cpus: os.cpus().length, kernel: os.release() },
    loadavg: os.loadavg(),
    ...body,
  };
  fs.writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  console.log(`wrote ${file}`);
}

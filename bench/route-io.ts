/**
 * route-io: time to program route bursts through RouteSync with each kernel path, `ip -batch`
 * (child processes) and rtnetlink (no child), in a namespace of its own. As root:
 *
 *   node dist/bench/route-io.js [--sizes 1000,10000] [--rounds 3] [--ballast 128]
 *
 * Per path and size, each round: add N routes (`dev v0`, as the TUN routes), change the next hop
 * of all N (replace), a churn of N/10 (half deleted, half new, as bench/leases.ts), release all.
 * Printed: the median wall time of each step in ms, and the worst event-loop delay seen meanwhile
 * (perf_hooks, 1 ms resolution). `--ballast MiB` holds that much touched memory first, so the
 * process is the size of a 10,000-lease `weft run` (~140 MB) and `fork()` costs what it costs there.
 */
import { execFileSync } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { RouteSync, ipDeps, type KernelRoute, type RouteSyncDeps } from '../src/io/route-sync';
import { netlinkDeps } from '../src/io/rtnetlink-deps';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}

function route(i: number, via?: string): KernelRoute {
  const v = 0x0a000000 + i * 4;
  const dst = `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}/30`;
  return via === undefined ? { dst, dev: 'v0' } : { dst, dev: 'v0', via };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timed(fn: () => Promise<unknown>): Promise<{ ms: number; loopMaxMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = process.hrtime.bigint();
  await fn();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  h.disable();
  return { ms, loopMaxMs: h.max / 1e6 };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('route-io needs root (a network namespace)');
  const sizes = arg('sizes', '1000,10000').split(',').map(Number);
  const rounds = Number(arg('rounds', '3'));
  const ballast = Buffer.alloc(Number(arg('ballast', '128')) << 20, 1);
  const ns = `wri${process.pid}`;
  const ip = (...a: string[]): string => execFileSync('ip', ['-n', ns, ...a], { encoding: 'utf8' });
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
    ip('addr', 'add', '192.0.2.1/24', 'dev', 'v0');
    ip('link', 'set', 'v0', 'up');
    const paths: Array<[string, () => RouteSyncDeps]> = [
      ['ip', () => ipDeps(ns)],
      ['netlink', () => netlinkDeps(ns)],
    ];
    const rows: string[] = [];
    for (const n of sizes) {
      for (const [name, make] of paths) {
        const steps: Record<string, { ms: number[]; loop: number[] }> = {};
        const note = (step: string, r: { ms: number; loopMaxMs: number }): void => {
          const s = (steps[step] ??= { ms: [], loop: [] });
          s.ms.push(r.ms);
          s.loop.push(r.loopMaxMs);
        };
        for (let round = 0; round < rounds; round++) {
          const rs = new RouteSync({ deps: make() });
          const all = Array.from({ length: n }, (_, i) => route(i));
          note('add', await timed(() => rs.sync('tun', all)));
          const moved = Array.from({ length: n }, (_, i) => route(i, '192.0.2.9'));
          note('replace', await timed(() => rs.sync('tun', moved)));
          const k = Math.max(2, Math.floor(n / 20));
          const churned = [
            ...moved.slice(k),
            ...Array.from({ length: k }, (_, i) => route(n + i, '192.0.2.9')),
          ];
          note(`churn ${2 * k}`, await timed(() => rs.sync('tun', churned)));
          note('release', await timed(() => rs.release('tun')));
          if (rs.size !== 0) throw new Error(`${name}: ${rs.size} routes left after release`);
        }
        for (const [step, s] of Object.entries(steps)) {
          rows.push(
            `| ${n} | ${name} | ${step} | ${median(s.ms).toFixed(0)} | ${Math.max(...s.loop).toFixed(1)} |`,
          );
        }
      }
    }
    process.stdout.write(
      `rounds ${rounds}, ballast ${ballast.length >> 20} MiB, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB\n` +
        '| routes | path | step | median ms | worst event-loop delay ms |\n|---|---|---|---|---|\n' +
        rows.join('\n') +
        '\n',
    );
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
}

main().catch((e) => {
  process.stderr.write(`route-io: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});

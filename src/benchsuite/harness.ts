/**
 * harness: the lab of one `weft bench` run (src/testing: namespaces, veth, processes, cleanup by
 * PID), torn down after each MTU and also on SIGINT / SIGTERM and process exit; and the per-process
 * CPU and memory readings the bench takes from /proc.
 *
 * Namespaces are named `wb` + pid + counter, so a bench never collides with tests or another bench.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cleanup, killAllNow } from '../testing/cleanup';
import { Netns } from '../testing/netns';
import { sh } from '../testing/shell';

/** Harness owns every namespace and process of one bench run and removes them in `cleanup`. */
export class Harness {
  private undo = new Cleanup();
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    process.stderr.write(`\nweft bench: ${sig}, cleaning up\n`);
    killAllNow();
    process.exit(130);
  };

  constructor() {
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
  }

  /** netns creates a namespace with lo up (IPv6 at the default, on); its processes and itself go in `cleanup`. */
  netns(): Netns {
    return Netns.create(this.undo, 'wb');
  }

  /** tempDir creates a directory (lease store, node state) that `cleanup` removes after the processes stop. */
  tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'weft-bench-'));
    this.undo.add(`rm -r ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  /** cleanup stops every process (SIGTERM, then SIGKILL) and deletes every namespace. */
  async cleanup(): Promise<void> {
    const done = this.undo;
    this.undo = new Cleanup();
    await done.run();
  }

  /** dispose cleans up and unhooks the signal handlers. */
  async dispose(): Promise<void> {
    await this.cleanup();
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }
}

/** CLK_TCK is the kernel's clock tick rate for /proc/PID/stat times (USER_HZ, 100 on Linux). */
let clkTck = 0;
function ticksPerSecond(): number {
  if (clkTck === 0) {
    try {
      clkTck = Number(sh('getconf', ['CLK_TCK']).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** cpuSeconds is utime + stime of `pid` from /proc/PID/stat, in seconds (0 if it is gone). */
export function cpuSeconds(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / ticksPerSecond();
  } catch {
    return 0;
  }
}

/** rssMiB is VmRSS of `pid` in MiB (0 if it is gone). */
export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

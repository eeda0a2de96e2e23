/**
 * harness: namespaces, veth pairs and child processes for `weft bench`, with cleanup by PID and
 * namespace name, also on SIGINT / SIGTERM and process exit.
 *
 * Design notes:
 * - Names are unique per run (`wb` + pid + counter, <= 15 characters) so a bench never collides
 *   with tests or another bench; namespaces get IPv6 disabled and no default route, so nothing
 *   leaves them (underlay 192.0.2.0/24, documentation range).
 * - Processes are started with `ip netns exec NS cmd`, which execs in place: the child's PID is
 *   the command's PID, so CPU time and RSS are read from /proc/PID and signals go to it directly.
 *   Nothing is ever killed by name.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { sh, sleep } from '../demo/testbed';

let counter = 0;

/** uniqueName returns prefix + pid + counter, cut to a valid interface name (15 characters). */
export function uniqueName(prefix: string): string {
  counter++;
  return `${prefix}${process.pid % 100000}x${counter}`.slice(0, 15);
}

/** sh and sleep are the demo testbed's: one copy of the namespace-tool helpers in src/. */
export { sh, sleep } from '../demo/testbed';

/** Child is a process started in a namespace, with its stdout lines kept for `waitForLine`. */
export class Child {
  /** PID of the command itself. */
  readonly pid: number;
  /** stdout + stderr so far (bounded), for error messages. */
  log = '';
  private readonly proc: ChildProcess;
  private exitCode: number | null | undefined;
  private readonly exited: Promise<void>;

  constructor(
    readonly label: string,
    cmd: string,
    args: string[],
  ) {
    this.proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (this.proc.pid === undefined) throw new Error(`${label}: spawn ${cmd} failed`);
    this.pid = this.proc.pid;
    const add = (s: Buffer): void => {
      this.log += s.toString('utf8');
      if (this.log.length > 100_000) this.log = this.log.slice(-50_000);
    };
    this.proc.stdout!.on('data', add);
    this.proc.stderr!.on('data', add);
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code) => {
        this.exitCode = code;
        resolve();
      });
    });
  }

  /** running is true until the process exits. */
  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** waitFor resolves when the output matches `re`; rejects on timeout or exit. */
  async waitFor(re: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.log);
      if (m) return m[0];
      if (!this.running)
        throw new Error(`${this.label} exited (${this.exitCode}) before ${re}:\n${this.log}`);
      if (Date.now() > deadline)
        throw new Error(`${this.label}: no ${re} within ${timeoutMs} ms:\n${this.log}`);
      await sleep(50);
    }
  }

  /** stop sends SIGTERM by PID, then SIGKILL after `graceMs`. */
  async stop(graceMs = 2000): Promise<void> {
    if (!this.running) return;
    try {
      process.kill(this.pid, 'SIGTERM');
    } catch {
      return;
    }
    const t = setTimeout(() => {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, graceMs);
    await this.exited;
    clearTimeout(t);
  }

  /** killNow sends SIGKILL by PID (synchronous last resort at process exit). */
  killNow(): void {
    if (!this.running) return;
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** Harness owns every namespace and process of one bench run and removes them in `cleanup`. */
export class Harness {
  private readonly namespaces: string[] = [];
  private readonly children: Child[] = [];
  private readonly onExit = (): void => this.cleanupSync();
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    process.stderr.write(`\nweft bench: ${sig}, cleaning up\n`);
    this.cleanupSync();
    process.exit(130);
  };

  constructor() {
    process.on('exit', this.onExit);
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
  }

  /** netns creates a namespace with lo up, IPv6 off, and registers it for deletion. */
  netns(): string {
    const name = uniqueName('wb');
    sh('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    sh('ip', ['netns', 'exec', name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
    sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** spawn starts `cmd args` in namespace `ns` (PID = the command's). */
  spawn(label: string, ns: string, cmd: string, args: string[]): Child {
    const c = new Child(label, 'ip', ['netns', 'exec', ns, cmd, ...args]);
    this.children.push(c);
    return c;
  }

  /** cleanup stops every process (SIGTERM, then SIGKILL) and deletes every namespace. */
  async cleanup(): Promise<void> {
    await Promise.all(this.children.splice(0).map((c) => c.stop()));
    this.deleteNamespaces();
  }

  /** dispose cleans up and unhooks the exit and signal handlers. */
  async dispose(): Promise<void> {
    await this.cleanup();
    process.off('exit', this.onExit);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  private cleanupSync(): void {
    for (const c of this.children.splice(0)) c.killNow();
    this.deleteNamespaces();
  }

  private deleteNamespaces(): void {
    for (const ns of this.namespaces.splice(0)) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    }
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

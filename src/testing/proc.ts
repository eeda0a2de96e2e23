/**
 * proc: a child process of a lab (weft, socat, etcd, iperf3, ...), stopped by PID only.
 *
 * Two ways to keep its output:
 * - piped (default): stdout and stderr are kept in memory (bounded), stdout also as lines, so a
 *   caller can wait for a line (`waitForLine`) or for a pattern anywhere in the output (`waitFor`);
 *   stdin is a pipe the caller may write to.
 * - `logFile`: stdout and stderr go to a file and the process runs in its own process group, so it
 *   outlives the lab with `weft demo --keep`, `cat` shows its log, and a terminal's Ctrl-C reaches
 *   only the lab, which then stops everything in order.
 * Spawned through `ip netns exec NS cmd` (which execs in place) the PID is the command's own, so
 * signals, /proc/PID/stat and /proc/PID/status reach it directly.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { constants } from 'node:os';
import { parseLogLine } from '../daemon/log';
import { lastResort } from './cleanup';
import { sleep } from './shell';

/** ProcOptions choose where a Proc's output goes. */
export interface ProcOptions {
  /** Send stdout and stderr to this file (appended) and detach into a new process group. */
  readonly logFile?: string;
  /** Piped mode: set false to read `child.stdout` yourself (binary data); stderr is still kept. */
  readonly captureStdout?: boolean;
}

/** LogEvent is one of weft's structured (JSON) log lines. */
export interface LogEvent {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

const MAX_LOG = 200_000;

/** Proc is one child process of a lab. */
export class Proc {
  /** The underlying child process. */
  readonly child: ChildProcess;
  /** PID of the process (the command itself: `ip netns exec` execs in place). */
  readonly pid: number;
  /** Complete stdout lines so far (piped mode). */
  readonly lines: string[] = [];
  /** Exit status once exited (128 + signal number when killed), undefined while running. */
  exitCode: number | null | undefined = undefined;
  /** Resolves with `exitCode` when the process ends. */
  readonly exited: Promise<number | null>;
  /** File receiving the output (file mode). */
  readonly logFile: string | undefined;
  private mem = '';
  private partial = '';
  private waiters: Array<{ re: RegExp; from: number; resolve: (l: string) => void }> = [];

  constructor(
    readonly label: string,
    cmd: string,
    args: readonly string[],
    opts: ProcOptions = {},
  ) {
    this.logFile = opts.logFile;
    if (opts.logFile !== undefined) {
      const fd = fs.openSync(opts.logFile, 'a');
      try {
        this.child = spawn(cmd, args, { stdio: ['ignore', fd, fd], detached: true });
      } finally {
        fs.closeSync(fd);
      }
    } else {
      this.child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      this.child.stdin!.on('error', () => {});
      if (opts.captureStdout !== false) {
        this.child.stdout!.setEncoding('utf8');
        this.child.stdout!.on('data', (s: string) => this.onStdout(s));
      }
      this.child.stderr!.setEncoding('utf8');
      this.child.stderr!.on('data', (s: string) => this.append(s));
    }
    if (this.child.pid === undefined) throw new Error(`${label}: spawn ${cmd} failed`);
    this.pid = this.child.pid;
    lastResort.addPid(this.pid);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        lastResort.deletePid(this.pid);
        if (signal && this.logFile === undefined) this.append(`[${label} killed by ${signal}]\n`);
        this.exitCode = code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : null);
        resolve(this.exitCode);
      });
    });
  }

  /** log is everything the process wrote so far (the last ~200 kB), for diagnostics. */
  get log(): string {
    if (this.logFile === undefined) return this.mem;
    try {
      const s = fs.readFileSync(this.logFile, 'utf8');
      return s.length > MAX_LOG ? s.slice(-MAX_LOG) : s;
    } catch {
      return '';
    }
  }

  /** events are the JSON log lines (weft's structured stderr) so far. */
  get events(): LogEvent[] {
    const out: LogEvent[] = [];
    for (const line of this.log.split('\n')) {
      const ev = parseLogLine(line);
      if (ev) out.push(ev);
    }
    return out;
  }

  /** running is true until the process has exited. */
  get running(): boolean {
    return this.exitCode === undefined;
  }

  private append(s: string): void {
    this.mem += s;
    if (this.mem.length > MAX_LOG) this.mem = this.mem.slice(-MAX_LOG / 2);
  }

  private onStdout(s: string): void {
    this.append(s);
    const parts = (this.partial + s).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.lines.push(line);
    this.waiters = this.waiters.filter((w) => {
      for (let i = w.from; i < this.lines.length; i++) {
        if (w.re.test(this.lines[i]!)) {
          w.resolve(this.lines[i]!);
          return false;
        }
      }
      return true;
    });
  }

  /**
   * waitForLine resolves with the first stdout line at index >= `from` matching `re` (piped mode);
   * it rejects after `timeoutMs` or when the process exits first, quoting its output.
   */
  waitForLine(re: RegExp, timeoutMs = 10_000, from = 0): Promise<string> {
    for (let i = from; i < this.lines.length; i++)
      if (re.test(this.lines[i]!)) return Promise.resolve(this.lines[i]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(
          new Error(`${this.label}: no line matching ${re} within ${timeoutMs} ms; output:\n${this.log}`),
        );
      }, timeoutMs);
      const w = {
        re,
        from,
        resolve: (l: string) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      this.waiters.push(w);
      void this.exited.then((code) => {
        if (!this.waiters.includes(w)) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(
          new Error(`${this.label}: exited (${code}) before a line matching ${re}; output:\n${this.log}`),
        );
      });
    });
  }

  /** waitFor resolves with the first match of `re` anywhere in the output; rejects on timeout or exit. */
  async waitFor(re: RegExp, timeoutMs: number): Promise<string> {
    return (await this.poll(() => re.exec(this.log)?.[0], re, timeoutMs)) as string;
  }

  /** waitForEvent resolves with the first JSON log event whose msg matches `re` (index >= from). */
  waitForEvent(re: RegExp, timeoutMs: number, from = 0): Promise<LogEvent> {
    return this.poll(() => this.events.slice(from).find((e) => re.test(e.msg)), re, timeoutMs);
  }

  private async poll<T>(find: () => T | undefined, re: RegExp, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = find();
      if (hit !== undefined) return hit;
      if (!this.running)
        throw new Error(`${this.label} exited (${this.exitCode}) before ${re}:\n${this.log}`);
      if (Date.now() > deadline)
        throw new Error(`${this.label}: no output matching ${re} within ${timeoutMs} ms:\n${this.log}`);
      await sleep(50);
    }
  }

  /** signal sends `sig` to the process by PID (no-op once it has exited). */
  signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(this.pid, sig);
    } catch {
      /* raced with exit */
    }
  }

  /** stop sends SIGTERM, escalates to SIGKILL after `graceMs`, and resolves with the exit code. */
  async stop(graceMs = 3000): Promise<number | null> {
    if (!this.running) return this.exitCode ?? null;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  /** keep lets the process outlive this one: no exit-time kill, and the event loop does not wait for it. */
  keep(): void {
    lastResort.deletePid(this.pid);
    this.child.unref();
  }
}

/**
 * proc-stat: the kernel's own CPU time during a bench run, from /proc/stat (proc(5)).
 *
 * Kernel VXLAN runs no process of its own: its cost is system time in the iperf3 processes'
 * system calls plus softirq time (veth receive, VXLAN decap, the TCP stacks), and neither shows
 * in any tunnel process's utime/stime. So `weft bench` reads the per-core `cpuN` lines of
 * /proc/stat before and after each run and counts, machine-wide, system + irq + softirq: the
 * "kernel CPU" of the run. That is comparable across cases: for weft it holds the TUN, UDP and
 * TCP work weft's system calls and softirqs cause (weft's stime is inside it); for kernel VXLAN,
 * everything the kernel path costs. "Path CPU" adds the tunnel processes' user time to it, so a
 * weft row and the kernel row count the same things: every CPU second the data path takes, less
 * iperf3's own user time (the same in every case).
 *
 * Machine-wide means other load on the machine is counted too; `steal` and the machine's user
 * time are kept so a record shows how busy the machine was.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** CpuTimes are one `cpu` line's counters, in clock ticks (USER_HZ). */
export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

/** ProcStat is one reading of /proc/stat: the `cpu` total and each `cpuN` line, by core number. */
export interface ProcStat {
  total: CpuTimes;
  cores: CpuTimes[];
}

const FIELDS = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;

function zero(): CpuTimes {
  return { user: 0, nice: 0, system: 0, idle: 0, iowait: 0, irq: 0, softirq: 0, steal: 0 };
}

/**
 * parseProcStat reads the `cpu` and `cpuN` lines of a /proc/stat text. Fields a kernel does not
 * print (older kernels stop before `steal`) read 0. Throws on text without a `cpu` line.
 */
export function parseProcStat(text: string): ProcStat {
  let total: CpuTimes | null = null;
  const cores: CpuTimes[] = [];
  for (const line of text.split('\n')) {
    const m = /^cpu(\d*)\s+(.*)$/.exec(line);
    if (!m) continue;
    const nums = m[2]!.trim().split(/\s+/).map(Number);
    const t = zero();
    FIELDS.forEach((f, i) => {
      const v = nums[i];
      t[f] = v !== undefined && Number.isFinite(v) ? v : 0;
    });
    if (m[1] === '') total = t;
    else cores[Number(m[1])] = t;
  }
  if (total === null) throw new Error('/proc/stat: no "cpu" line');
  return { total, cores: Array.from(cores, (c) => c ?? zero()) };
}

function sub(a: CpuTimes, b: CpuTimes): CpuTimes {
  const d = zero();
  for (const f of FIELDS) d[f] = Math.max(0, b[f] - a[f]);
  return d;
}

/** diffProcStat is `after - before`, per field (never negative), for the total and each core. */
export function diffProcStat(before: ProcStat, after: ProcStat): ProcStat {
  return {
    total: sub(before.total, after.total),
    cores: after.cores.map((c, i) => sub(before.cores[i] ?? zero(), c)),
  };
}

/** KernelCpu is the kernel CPU of one interval, in seconds. */
export interface KernelCpu {
  /** system + irq + softirq over all cores: the kernel's CPU time. */
  kernelSeconds: number;
  systemSeconds: number;
  softirqSeconds: number;
  irqSeconds: number;
  /** user + nice over all cores (every process: a busy-machine indicator). */
  userSeconds: number;
  /** Time the hypervisor ran something else while a vCPU wanted to run. */
  stealSeconds: number;
  /** Wall-clock CPU time of the interval (every field, all cores): cores x seconds. */
  elapsedCpuSeconds: number;
  /** kernelSeconds per core, by core number. */
  perCoreKernelSeconds: number[];
}

const kernelTicks = (t: CpuTimes): number => t.system + t.irq + t.softirq;

/** kernelCpu turns a /proc/stat delta into seconds (`hz` = USER_HZ, 100 on Linux). */
export function kernelCpu(delta: ProcStat, hz: number): KernelCpu {
  const t = delta.total;
  // The per-core lines are summed rather than the `cpu` line used: both are the same counters,
  // and a per-core sum keeps the total and the per-core figures consistent.
  const perCore = delta.cores.map((c) => kernelTicks(c) / hz);
  const cores = delta.cores.length > 0 ? delta.cores : [t];
  const sum = (f: (c: CpuTimes) => number): number => cores.reduce((s, c) => s + f(c), 0) / hz;
  return {
    kernelSeconds: sum(kernelTicks),
    systemSeconds: sum((c) => c.system),
    softirqSeconds: sum((c) => c.softirq),
    irqSeconds: sum((c) => c.irq),
    userSeconds: sum((c) => c.user + c.nice),
    stealSeconds: sum((c) => c.steal),
    elapsedCpuSeconds: sum((c) => FIELDS.reduce((s, f) => s + c[f], 0)),
    perCoreKernelSeconds: perCore,
  };
}

/** readProcStat reads and parses /proc/stat now. */
export function readProcStat(): ProcStat {
  return parseProcStat(readFileSync('/proc/stat', 'utf8'));
}

/** ProcessTimes are a process's utime and stime in clock ticks. */
export interface ProcessTimes {
  utime: number;
  stime: number;
}

/**
 * parsePidStat reads utime and stime (fields 14 and 15) from a /proc/PID/stat line. The command
 * name is parenthesised and may hold spaces or parentheses, so fields count from the last ')'.
 */
export function parsePidStat(line: string): ProcessTimes {
  const close = line.lastIndexOf(')');
  if (close < 0) throw new Error('/proc/PID/stat: no command name');
  const f = line.slice(close + 2).split(' ');
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('/proc/PID/stat: short line');
  return { utime, stime };
}

/** processUserTicks is utime of `pid` in ticks (0 when the process is gone). */
export function processUserTicks(pid: number): number {
  try {
    return parsePidStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).utime;
  } catch {
    return 0;
  }
}

/**
 * perGbit is the CPU seconds per gigabit received summed over runs, or null when nothing was
 * received (a figure over zero gigabits means nothing).
 */
export function perGbit(runs: readonly { seconds: number; gbit: number }[]): number | null {
  const gbit = runs.reduce((s, r) => s + r.gbit, 0);
  if (!(gbit > 0)) return null;
  return runs.reduce((s, r) => s + r.seconds, 0) / gbit;
}

let hzCache = 0;
/** userHz is the kernel's USER_HZ (`getconf CLK_TCK`; 100 when that fails, as on every Linux). */
export function userHz(): number {
  if (hzCache === 0) {
    try {
      hzCache = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      hzCache = 100;
    }
  }
  return hzCache;
}

/**
 * measure: one iperf3 run against a built case, with the tunnel processes' CPU time (utime +
 * stime from /proc/PID/stat, before and after), the machine's kernel CPU time (system + irq +
 * softirq from /proc/stat, before and after: proc-stat.ts) and RSS (VmRSS sampled every 500 ms).
 *
 * iperf3 pitfalls handled (anchors.md): it can exit 0 with `"error"` in its JSON, so `.error` is
 * checked; the server binds the overlay target (see cases.ts).
 */
import { execFile } from 'node:child_process';
import type { Topology } from './cases';
import { cpuSeconds, rssMiB } from './harness';
import { diffProcStat, kernelCpu, processUserTicks, readProcStat, userHz, type KernelCpu } from './proc-stat';

/** Metric is one measurement kind. */
export type Metric = 'tcp1' | 'tcp4' | 'udp64';

/** METRICS lists the metrics in run order. */
export const METRICS: readonly Metric[] = ['tcp1', 'tcp4', 'udp64'];

/** Sample is the outcome of one iperf3 run. */
export interface Sample {
  /** TCP: received Gbit/s; UDP: received packets/s. NaN on error. */
  value: number;
  /** UDP only: loss in percent. */
  lossPct: number;
  /** Gigabits received (TCP) or packets received (UDP). */
  amount: number;
  /** CPU seconds the tunnel processes used during the run (0 for kernel / veth). */
  cpuSeconds: number;
  /** User CPU seconds of the tunnel processes (part of cpuSeconds; 0 for kernel / veth). */
  tunnelUserSeconds: number;
  /** Machine-wide kernel CPU (system + irq + softirq) during the run, from /proc/stat. */
  kernel: KernelCpu;
  /** Largest RSS sum of the tunnel processes seen during the run, MiB. */
  rssMiB: number;
  /** RSS sum at the start and at the end of the run, MiB (growth = leak suspicion). */
  rssStartMiB: number;
  rssEndMiB: number;
  /** Set when iperf3 failed. */
  error?: string;
}

interface IperfJson {
  error?: string;
  end?: {
    sum_received?: { bits_per_second?: number; bytes?: number; seconds?: number };
    sum?: { packets?: number; lost_packets?: number; seconds?: number };
  };
}

function runIperf(args: string[], timeoutMs: number): Promise<IperfJson> {
  return new Promise((resolve) => {
    execFile('ip', args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout) => {
      try {
        resolve(JSON.parse(stdout) as IperfJson);
      } catch {
        resolve({ error: `iperf3 gave no JSON (${err ? err.message : 'empty'}): ${stdout.slice(0, 200)}` });
      }
    });
  });
}

/** measure runs one iperf3 client for `seconds` from t.src to t.dst and samples the tunnels. */
export async function measure(t: Topology, metric: Metric, seconds: number): Promise<Sample> {
  const args = [
    'netns',
    'exec',
    t.nsA,
    'iperf3',
    '-c',
    t.dst,
    '-p',
    '5201',
    '-B',
    t.src,
    '-t',
    String(seconds),
    '-J',
  ];
  if (metric === 'tcp4') args.push('-P', '4');
  if (metric === 'udp64') args.push('-u', '-l', '64', '-b', '0');
  const pids = t.tunnels.map((c) => c.pid);
  const hz = userHz();
  const user0 = pids.reduce((s, p) => s + processUserTicks(p), 0);
  const cpu0 = pids.reduce((s, p) => s + cpuSeconds(p), 0);
  const stat0 = readProcStat();
  let rss = 0;
  let last = 0;
  const sampleRss = (): void => {
    last = pids.reduce((s, p) => s + rssMiB(p), 0);
    rss = Math.max(rss, last);
  };
  sampleRss();
  const rssStart = last;
  const timer = setInterval(sampleRss, 500);
  const j = await runIperf(args, (seconds + 25) * 1000);
  // The kernel's figure spans iperf3's whole run (setup and teardown included, a few ms), as the
  // tunnels' does: the same interval for both.
  const stat1 = readProcStat();
  clearInterval(timer);
  sampleRss();
  const cpu = pids.reduce((s, p) => s + cpuSeconds(p), 0) - cpu0;
  const user = (pids.reduce((s, p) => s + processUserTicks(p), 0) - user0) / hz;
  const out: Sample = {
    value: NaN,
    lossPct: NaN,
    amount: 0,
    cpuSeconds: cpu,
    tunnelUserSeconds: user,
    kernel: kernelCpu(diffProcStat(stat0, stat1), hz),
    rssMiB: rss,
    rssStartMiB: rssStart,
    rssEndMiB: last,
  };
  if (j.error) {
    out.error = j.error;
    return out;
  }
  if (metric === 'udp64') {
    const s = j.end?.sum;
    if (s?.packets === undefined || !s.seconds) {
      out.error = 'no UDP summary in iperf3 JSON';
      return out;
    }
    const lost = s.lost_packets ?? 0;
    out.amount = s.packets - lost;
    out.value = out.amount / s.seconds;
    out.lossPct = s.packets > 0 ? (100 * lost) / s.packets : 0;
  } else {
    const r = j.end?.sum_received;
    if (r?.bits_per_second === undefined) {
      out.error = 'no TCP summary in iperf3 JSON';
      return out;
    }
    out.value = r.bits_per_second / 1e9;
    out.amount = ((r.bytes ?? 0) * 8) / 1e9;
  }
  return out;
}

/** median of the finite values (NaN when there are none). */
export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

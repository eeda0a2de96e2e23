/**
 * report: what `weft bench` prints and writes — the per-case rows with ratios to kernel VXLAN of
 * the same run, the text table and the JSON record (the chart is chart.ts, the CSV csv.ts).
 */
import type { CaseName } from './cases';
import type { Metric } from './measure';

/** Row is one case at one MTU, aggregated over rounds (medians). */
export interface Row {
  mtu: number;
  case: CaseName;
  label: string;
  /** TCP 1 stream, Gbit/s: median and every sample. */
  tcp1Gbps: number;
  tcp1Samples: number[];
  /** TCP 4 streams, Gbit/s. */
  tcp4Gbps: number;
  tcp4Samples: number[];
  /** 64-byte UDP received packets/s, and loss %. */
  udpPps: number;
  udpPpsSamples: number[];
  udpLossPct: number;
  /** Ratios to kernel VXLAN at the same MTU in this run (NaN when kernel was not measured). */
  ratioTcp1: number;
  ratioTcp4: number;
  ratioUdp: number;
  /**
   * Tunnel CPU seconds per gigabit received in the TCP runs: the tunnel processes' utime + stime
   * (null for kernel / veth, which have no tunnel process).
   */
  cpuSecPerGbit: number | null;
  /**
   * Kernel CPU seconds per gigabit in the TCP runs: machine-wide system + irq + softirq from
   * /proc/stat (proc-stat.ts), every case. Includes the tunnels' stime and both TCP stacks.
   * Absent in records made before it was measured.
   */
  kernelCpuSecPerGbit?: number | null;
  /**
   * Path CPU seconds per gigabit: kernel CPU + the tunnel processes' utime, i.e. every CPU second
   * the data path costs except iperf3's own user time. The figure comparable across all cases.
   */
  pathCpuSecPerGbit?: number | null;
  /** pathCpuSecPerGbit / the kernel VXLAN row's at the same MTU. */
  ratioPathCpu?: number;
  /** Kernel CPU seconds per gigabit on each core (by core number): where the kernel work ran. */
  kernelCpuSecPerGbitPerCore?: number[];
  /** Machine-wide user + nice CPU seconds per second of run, TCP runs: how busy the machine was. */
  machineUserCores?: number;
  /** Largest tunnel RSS seen (sum over both ends), MiB (null for kernel / veth). */
  rssMaxMiB: number | null;
  /** Largest RSS growth within one run (end - start, both ends), MiB (null for kernel / veth). */
  rssGrowthMiB: number | null;
  /** iperf3 failures, if any. */
  errors: string[];
}

/** BenchReport is the JSON `weft bench --json` writes. */
export interface BenchReport {
  tool: 'weft bench';
  version: 1;
  date: string;
  command: string;
  machine: { cpus: number; model: string; kernel: string; node: string };
  options: { mtus: number[]; cases: CaseName[]; duration: number; rounds: number; metrics: Metric[] };
  rows: Row[];
  /** weft offload capabilities reported by `weft link` (if it printed them). */
  notes: string[];
}

function fmt(x: number | null, digits: number): string {
  return x !== null && Number.isFinite(x) ? x.toFixed(digits) : '-';
}

/**
 * CPU_LEGEND says what each CPU column counts; printed under the table so a pasted table keeps
 * its meaning.
 */
export const CPU_LEGEND =
  "CPU columns, per gigabit received in the TCP runs: tunnel = the tunnel processes' utime + stime; " +
  "kernel = machine-wide system + irq + softirq (/proc/stat; holds the tunnels' stime, both TCP stacks, " +
  "VXLAN, TUN, veth, and any other load); path = kernel + the tunnels' utime: all the data path costs " +
  "except iperf3's own user time, comparable across cases.";

/** formatTable renders the rows as a Markdown table (one per run, all MTUs). */
export function formatTable(rows: Row[]): string {
  const head = [
    '| MTU | case | TCP 1 Gbit/s | x kernel | TCP 4 Gbit/s | x kernel | 64 B UDP kpps | x kernel | loss % | tunnel CPU s/Gbit | kernel CPU s/Gbit | path CPU s/Gbit | x kernel | RSS MiB (both ends) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const body = rows.map(
    (r) =>
      `| ${r.mtu} | ${r.label} | ${fmt(r.tcp1Gbps, 2)} | ${fmt(r.ratioTcp1, 2)} | ${fmt(r.tcp4Gbps, 2)} | ` +
      `${fmt(r.ratioTcp4, 2)} | ${fmt(r.udpPps / 1000, 1)} | ${fmt(r.ratioUdp, 2)} | ${fmt(r.udpLossPct, 1)} | ` +
      `${fmt(r.cpuSecPerGbit, 3)} | ${fmt(r.kernelCpuSecPerGbit ?? null, 3)} | ${fmt(r.pathCpuSecPerGbit ?? null, 3)} | ` +
      `${fmt(r.ratioPathCpu ?? NaN, 2)} | ${fmt(r.rssMaxMiB, 0)} |`,
  );
  return [...head, ...body].join('\n');
}

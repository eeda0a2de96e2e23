/**
 * aggregate: one bench case's samples (every round of every metric) into its table row, and the
 * ratios to kernel VXLAN at the same MTU. Pure arithmetic, so it is unit-tested with recorded
 * samples; the CPU figures are the ones report.ts's CPU_LEGEND defines.
 */
import { CASE_LABELS, type CaseName } from './cases';
import { median, type Metric, type Sample } from './measure';
import { perGbit } from './proc-stat';
import type { Row } from './report';

/** aggregateRow turns case `c`'s samples at `mtu` into its row (ratios NaN until addRatios). */
export function aggregateRow(mtu: number, c: CaseName, s: Record<Metric, Sample[]>): Row {
  const v = (m: Metric): number[] => s[m].map((x) => x.value);
  // CPU per gigabit is a TCP figure: 64-byte UDP moves too few bytes for "per gigabit" to mean much.
  const tcpRuns = [...s.tcp1, ...s.tcp4].filter((x) => !x.error);
  const per = (sec: (x: Sample) => number): number | null =>
    perGbit(tcpRuns.map((x) => ({ seconds: sec(x), gbit: x.amount })));
  const userspace = c !== 'kernel' && c !== 'veth';
  const cores = Math.max(0, ...tcpRuns.map((x) => x.kernel.perCoreKernelSeconds.length));
  const perCore = Array.from(
    { length: cores },
    (_, i) => per((x) => x.kernel.perCoreKernelSeconds[i] ?? 0) ?? NaN,
  );
  // Machine-wide user + nice time over the runs' wall time: how many cores all user code kept busy.
  const wall = tcpRuns.reduce(
    (a, x) => a + x.kernel.elapsedCpuSeconds / Math.max(1, x.kernel.perCoreKernelSeconds.length),
    0,
  );
  const user = tcpRuns.reduce((a, x) => a + x.kernel.userSeconds, 0);
  const all = [...s.tcp1, ...s.tcp4, ...s.udp64];
  return {
    mtu,
    case: c,
    label: CASE_LABELS[c],
    tcp1Gbps: median(v('tcp1')),
    tcp1Samples: v('tcp1'),
    tcp4Gbps: median(v('tcp4')),
    tcp4Samples: v('tcp4'),
    udpPps: median(v('udp64')),
    udpPpsSamples: v('udp64'),
    udpLossPct: median(s.udp64.map((x) => x.lossPct)),
    ratioTcp1: NaN,
    ratioTcp4: NaN,
    ratioUdp: NaN,
    cpuSecPerGbit: userspace ? per((x) => x.cpuSeconds) : null,
    kernelCpuSecPerGbit: per((x) => x.kernel.kernelSeconds),
    pathCpuSecPerGbit: per((x) => x.kernel.kernelSeconds + x.tunnelUserSeconds),
    ratioPathCpu: NaN,
    kernelCpuSecPerGbitPerCore: perCore,
    machineUserCores: wall > 0 ? user / wall : NaN,
    rssMaxMiB: userspace ? Math.max(0, ...all.map((x) => x.rssMiB)) : null,
    rssGrowthMiB: userspace ? Math.max(0, ...all.map((x) => x.rssEndMiB - x.rssStartMiB)) : null,
    errors: all.filter((x) => x.error).map((x) => x.error!),
  };
}

/** addRatios sets every row's ratios to the kernel VXLAN row of its MTU (left NaN without one). */
export function addRatios(rows: Row[]): void {
  for (const r of rows) {
    const k = rows.find((x) => x.mtu === r.mtu && x.case === 'kernel');
    if (!k) continue;
    r.ratioTcp1 = r.tcp1Gbps / k.tcp1Gbps;
    r.ratioTcp4 = r.tcp4Gbps / k.tcp4Gbps;
    r.ratioUdp = r.udpPps / k.udpPps;
    const kp = k.pathCpuSecPerGbit;
    r.ratioPathCpu = r.pathCpuSecPerGbit != null && kp != null ? r.pathCpuSecPerGbit / kp : NaN;
  }
}

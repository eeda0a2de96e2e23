/**
 * csv: `weft bench --csv FILE`, one line per case and MTU for a spreadsheet (RFC 4180: comma
 * separated, a header line, fields with commas or quotes quoted). Medians as in the table, the
 * min and max across rounds (the spread), and the ratios to kernel VXLAN of the same run; a
 * figure that was not measured is an empty field. The CPU columns are report.ts's CPU_LEGEND:
 * tunnel processes, machine-wide kernel, and their path sum (with its ratio to kernel VXLAN's).
 */
import type { BenchReport, Row } from './report';

/** CSV_COLUMNS is the header line, in order. */
export const CSV_COLUMNS = [
  'mtu', 'case', 'label', 'rounds',
  'tcp1_gbps', 'tcp1_min', 'tcp1_max', 'tcp1_x_kernel',
  'tcp4_gbps', 'tcp4_min', 'tcp4_max', 'tcp4_x_kernel',
  'udp64_pps', 'udp64_min', 'udp64_max', 'udp64_x_kernel', 'udp64_loss_pct',
  'tunnel_cpu_s_per_gbit', 'kernel_cpu_s_per_gbit', 'path_cpu_s_per_gbit', 'path_cpu_x_kernel',
  'rss_max_mib', 'errors',
] as const; // prettier-ignore

function num(x: number | null | undefined): string {
  return x !== null && x !== undefined && Number.isFinite(x) ? String(+x.toPrecision(6)) : '';
}

function field(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function spread(samples: readonly number[]): [string, string] {
  const ok = samples.filter((x) => Number.isFinite(x));
  return ok.length === 0 ? ['', ''] : [num(Math.min(...ok)), num(Math.max(...ok))];
}

function line(r: Row): string {
  return [
    String(r.mtu), r.case, field(r.label), String(r.tcp1Samples.length),
    num(r.tcp1Gbps), ...spread(r.tcp1Samples), num(r.ratioTcp1),
    num(r.tcp4Gbps), ...spread(r.tcp4Samples), num(r.ratioTcp4),
    num(r.udpPps), ...spread(r.udpPpsSamples), num(r.ratioUdp), num(r.udpLossPct),
    num(r.cpuSecPerGbit), num(r.kernelCpuSecPerGbit), num(r.pathCpuSecPerGbit), num(r.ratioPathCpu),
    num(r.rssMaxMiB), field(r.errors.join('; ')),
  ].join(','); // prettier-ignore
}

/** renderCsv renders the report's rows as CSV, header first, lines ending in CRLF as RFC 4180 says. */
export function renderCsv(report: BenchReport): string {
  return [CSV_COLUMNS.join(','), ...report.rows.map(line)].join('\r\n') + '\r\n';
}

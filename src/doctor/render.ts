/**
 * render: `weft doctor`'s two outputs. Text for people: one line per finding, `ok`/`note`/
 * `PROBLEM`/`skip` and the check name first, then indented `why:` and `fix:` lines; a summary
 * last. JSON for machines: the DoctorReport as is, plus `problems` (the count).
 */
import type { DoctorReport } from './doctor';
import type { FindingStatus } from './finding';

const LABEL: Record<FindingStatus, string> = { ok: 'ok', note: 'note', problem: 'PROBLEM', skipped: 'skip' };

/** renderText formats a report for a terminal. */
export function renderText(r: DoctorReport): string {
  const n = r.node;
  const lines = [
    `weft doctor: ${n.flavor} node, ${n.store} store, interface ${n.iface ?? '?'} (${n.publicIp ?? '?'}), lease ${n.lease ?? 'none'}, ${n.peers} peer${n.peers === 1 ? '' : 's'}`,
  ];
  for (const f of r.findings) {
    lines.push(`${LABEL[f.status].padEnd(7)} ${f.check.padEnd(8)} ${f.summary}`);
    if (f.why) lines.push(`${' '.repeat(17)}why: ${f.why}`);
    if (f.fix) lines.push(`${' '.repeat(17)}fix: ${f.fix}`);
  }
  const problems = r.findings.filter((f) => f.status === 'problem').length;
  const notes = r.findings.filter((f) => f.status === 'note').length;
  lines.push(
    problems === 0
      ? `weft doctor: no problems found (${notes} note${notes === 1 ? '' : 's'})`
      : `weft doctor: ${problems} problem${problems === 1 ? '' : 's'} found`,
  );
  return lines.join('\n') + '\n';
}

/** renderJson formats a report for machines (one JSON document). */
export function renderJson(r: DoctorReport): string {
  const problems = r.findings.filter((f) => f.status === 'problem').length;
  return JSON.stringify({ ...r, problems }, null, 2) + '\n';
}

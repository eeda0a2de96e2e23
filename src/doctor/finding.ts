/**
 * finding: what `weft doctor` reports. Each check yields findings; a finding is `ok` (checked and
 * fine), `note` (worth knowing, nothing to fix), `problem` (broken or about to break, with a fix)
 * or `skipped` (could not or need not check here, with the reason). The command exits 1 when any
 * finding is a problem.
 */

/** FindingStatus is how a finding reads; only `problem` makes the command fail. */
export type FindingStatus = 'ok' | 'note' | 'problem' | 'skipped';

/** CheckId names the check a finding came from (stable: scripts and the JSON output key on it). */
export type CheckId =
  'config' | 'mtu' | 'subnet' | 'podcidr' | 'peers' | 'iptables' | 'reach' | 'offload' | 'clock';

/** Finding is one result: what was seen, why it matters, and how to fix it. */
export interface Finding {
  readonly check: CheckId;
  readonly status: FindingStatus;
  /** One line: what was found. */
  readonly summary: string;
  /** Why it matters (what breaks, how it shows). */
  readonly why?: string;
  /** What to do about it: commands or settings. */
  readonly fix?: string;
}

/** ok, note, problem and skipped build findings of each status. */
export const ok = (check: CheckId, summary: string): Finding => ({ check, status: 'ok', summary });
export const note = (check: CheckId, summary: string, why?: string, fix?: string): Finding => ({
  check,
  status: 'note',
  summary,
  ...(why ? { why } : {}),
  ...(fix ? { fix } : {}),
});
export const problem = (check: CheckId, summary: string, why: string, fix: string): Finding => ({
  check,
  status: 'problem',
  summary,
  why,
  fix,
});
export const skipped = (check: CheckId, summary: string): Finding => ({ check, status: 'skipped', summary });

/** hasProblem tells whether any finding is a problem (the command then exits 1). */
export function hasProblem(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.status === 'problem');
}

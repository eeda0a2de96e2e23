/**
 * unit-file: systemd's unit and EnvironmentFile syntax, read as systemd reads it, for the
 * deploy/systemd tests.
 */
import assert from 'node:assert/strict';

/** readEnvironmentFile reads KEY=VALUE lines as systemd's EnvironmentFile= does (comments, quotes). */
export function readEnvironmentFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    assert.ok(m, `not KEY=VALUE: ${line}`);
    let v = m[2]!;
    if (/^"(.*)"$/.test(v) || /^'(.*)'$/.test(v)) v = v.slice(1, -1);
    env[m[1]!] = v;
  }
  return env;
}

/** unitValues returns every `Key=value` of `section` in a unit file, in order. */
export function unitValues(text: string, section: string, key: string): string[] {
  let cur = '';
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const s = /^\[(.+)\]$/.exec(line.trim());
    if (s) cur = s[1]!;
    else if (cur === section && line.startsWith(`${key}=`)) out.push(line.slice(key.length + 1));
  }
  return out;
}

/**
 * routeGetMany against a real kernel: one batched `ip route get` in a namespace of its own, answers
 * in order, failures named. Needs root (CI runs as root).
 */
import test from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { routeGetMany } from '../../src/io/route-sync';

test('routeGetMany: one batched ip route get, answers in order, failures named (needs root: a netns)', async (t) => {
  if (process.getuid?.() !== 0)
    throw new Error('this test needs root (a network namespace); CI runs as root');
  const ns = `wrg${process.pid}`;
  const ip = (...a: string[]): string => execFileSync('ip', ['-n', ns, ...a], { encoding: 'utf8' });
  execFileSync('ip', ['netns', 'add', ns]);
  t.after(() => execFileSync('ip', ['netns', 'del', ns]));
  ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
  ip('addr', 'add', '192.0.2.1/24', 'dev', 'v0');
  ip('link', 'set', 'v0', 'up');
  ip('link', 'set', 'v1', 'up');
  ip('route', 'add', '198.51.100.0/24', 'via', '192.0.2.254');
  const r = await routeGetMany(['192.0.2.7', '198.51.100.3', '203.0.113.1', '192.0.2.9'], ns);
  assert.equal(r.length, 4);
  assert.ok(Array.isArray(r[0]) && r[0].length === 1 && r[0][0]!.gateway === undefined, JSON.stringify(r[0]));
  assert.ok(Array.isArray(r[1]) && r[1][0]!.gateway === '192.0.2.254', JSON.stringify(r[1]));
  assert.match(String(r[2]), /unreachable/i);
  assert.ok(Array.isArray(r[3]) && r[3][0]!.dev === 'v0', JSON.stringify(r[3]));
});

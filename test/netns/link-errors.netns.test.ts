/**
 * `weft link` setup failures: a typed error naming the problem, exit code 1, and nothing left
 * behind (no TUN device, no route).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cleanupFor,
  createUnderlay,
  requireRoot,
  startWeftLink,
  uniqueName,
  WEFT_BIN,
} from '../helpers/netns';

test('weft link fails cleanly: --local not on any interface, and UDP port already in use', async (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const u = createUnderlay(c);
  const args = (dev: string, local: string): string[] => [
    'link', '--backend', 'udp', '--dev', dev, '--local', local, '--address', '10.244.0.1/32',
    '--peer', `10.244.1.0/24=${u.bIp}`,
  ]; // prettier-ignore

  const dev1 = uniqueName('we');
  const p1 = u.a.spawn('weft link bad local', process.execPath, [WEFT_BIN, ...args(dev1, '198.51.100.7')]);
  assert.equal(await p1.exited, 1, p1.log);
  assert.match(p1.log, /--local: must be an IPv4 address of a local interface.*WEFT_ERR_CONFIG/);
  assert.throws(() => u.a.ip('link', 'show', dev1), /command failed/);

  const first = await startWeftLink(u.a, args(uniqueName('we'), u.aIp).slice(1));
  const dev2 = uniqueName('we');
  const p2 = u.a.spawn('weft link port in use', process.execPath, [WEFT_BIN, ...args(dev2, u.aIp)]);
  assert.equal(await p2.exited, 1, p2.log);
  assert.match(p2.log, /EADDRINUSE/);
  assert.throws(() => u.a.ip('link', 'show', dev2), /command failed/);
  assert.ok(first.proc.running, 'the first node keeps running');

  const bad = u.a.spawn('weft link usage', process.execPath, [WEFT_BIN, 'link', '--backend', 'udp']);
  assert.equal(await bad.exited, 2, bad.log);
  assert.match(bad.log, /--dev is required/);
});

test('weft link refuses a --peer whose prefix a route it did not install holds (the underlay)', async (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const u = createUnderlay(c);
  const before = u.a.ip('route', 'show', 'table', 'main');
  const underlay = /^(\S+) dev \S+ proto kernel/m.exec(before)?.[1];
  assert.ok(underlay, before);
  const dev = uniqueName('we');
  const p = u.a.spawn('weft link hijack', process.execPath, [
    WEFT_BIN, 'link', '--backend', 'vxlan', '--dev', dev, '--local', u.aIp, '--address', '10.244.0.1/32',
    '--peer', `${underlay}=${u.bIp},02:00:00:00:00:02`,
  ]); // prettier-ignore
  assert.equal(await p.exited, 1, p.log);
  assert.match(p.log, /--peer: must not take over a route weft did not install.*WEFT_ERR_CONFIG/);
  assert.equal(u.a.ip('route', 'show', 'table', 'main'), before, 'the underlay route is untouched');
  assert.throws(() => u.a.ip('link', 'show', dev), /command failed/);
});

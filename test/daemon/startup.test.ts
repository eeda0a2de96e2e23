/**
 * The pre-flight checks and the rollback list of `weft run` (src/daemon/startup.ts), on temp
 * directories and loopback: paths under a regular file are named config errors and nothing is
 * created; a taken UDP port is a config error naming the port; rollback runs newest first and
 * goes on past a failing step.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, SystemError } from '../../src/errors';
import { loadOrCreateVtepMac } from '../../src/daemon/vtep-state';
import { writeSubnetEnv } from '../../src/control/subnet-env';
import { Rollback, checkUdpPortFree, checkWritableDir, checkWritableFile } from '../../src/daemon/startup';

function tmp(t: { after(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-startup-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

test('checkWritableDir: existing and creatable directories pass and nothing is created', async (t) => {
  const d = tmp(t);
  await checkWritableDir(d, '--x');
  await checkWritableDir(path.join(d, 'a', 'b', 'c'), '--x');
  assert.deepEqual(fs.readdirSync(d), [], 'a check creates nothing');
});

test('checkWritableDir / checkWritableFile: a regular file in the way is a ConfigError naming the flag', async (t) => {
  const d = tmp(t);
  const f = path.join(d, 'file');
  fs.writeFileSync(f, 'x');
  await assert.rejects(checkWritableDir(path.join(f, 'sub'), '--vtep-state-dir'), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.field, '--vtep-state-dir');
    assert.equal(e.code, 'WEFT_ERR_CONFIG');
    assert.match(e.message, /is a regular file/);
    return true;
  });
  await assert.rejects(checkWritableFile(path.join(f, 'subnet.env'), '--subnet-file'), /--subnet-file/);
  await assert.rejects(checkWritableFile(d, '--subnet-file'), /not a directory|must name a file/);
  await checkWritableFile(path.join(d, 'run', 'subnet.env'), '--subnet-file');
});

test('checkUdpPortFree: a bound port is a ConfigError naming it; a free one passes and stays free', async () => {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  try {
    await assert.rejects(checkUdpPortFree('127.0.0.1', port, 'Backend.Port'), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.field, 'Backend.Port');
      assert.match(e.message, new RegExp(`UDP port ${port} must be free on 127\\.0\\.0\\.1.*EADDRINUSE`));
      return true;
    });
  } finally {
    await new Promise<void>((r) => s.close(() => r()));
  }
  await checkUdpPortFree('127.0.0.1', port, 'Backend.Port');
  await checkUdpPortFree('127.0.0.1', port, 'Backend.Port');
});

test('Rollback: newest first, a failing step is logged and the rest still run; clear forgets', async () => {
  const lines: string[] = [];
  const log = {
    info: (m: string, f?: Record<string, unknown>) => lines.push(`info ${m} ${String(f?.undone)}`),
    error: (m: string, f?: Record<string, unknown>) => lines.push(`error ${m} ${String(f?.undone)}`),
  };
  const done: string[] = [];
  const r = new Rollback(log);
  r.add('a', async () => done.push('a'));
  r.add('b', async () => {
    throw new Error('boom');
  });
  r.add('c', async () => done.push('c'));
  assert.equal(r.size, 3);
  await r.run();
  assert.deepEqual(done, ['c', 'a']);
  assert.deepEqual(lines, [
    'info start failed: rolled back c',
    'error start failed: could not roll back b',
    'info start failed: rolled back a',
  ]);
  assert.equal(r.size, 0);
  r.add('d', async () => done.push('d'));
  r.clear();
  await r.run();
  assert.deepEqual(done, ['c', 'a'], 'a cleared list undoes nothing');
});

test('writes that fail later are typed errors naming the path, not raw errno stacks', async (t) => {
  const d = tmp(t);
  const f = path.join(d, 'file');
  fs.writeFileSync(f, 'x');
  await assert.rejects(loadOrCreateVtepMac(path.join(f, 'state'), 'flannel.1', '192.0.2.1'), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.field, '--vtep-state-dir');
    assert.match(e.message, /ENOTDIR|EEXIST/);
    return true;
  });
  const env = { network: null, subnet: null, ipv6Network: null, ipv6Subnet: null, mtu: 1450, ipMasq: false };
  await assert.rejects(writeSubnetEnv(path.join(f, 'run', 'subnet.env'), env), (e: unknown) => {
    assert.ok(e instanceof SystemError);
    assert.equal(e.code, 'WEFT_ERR_SYSTEM');
    assert.match(e.message, new RegExp(`write ${f}/run/subnet.env failed: (ENOTDIR|EEXIST)`));
    return true;
  });
  assert.deepEqual(fs.readdirSync(d), ['file'], 'no temp file left');
});

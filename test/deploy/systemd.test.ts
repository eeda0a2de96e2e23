/**
 * deploy/systemd: the weft unit, its FLANNELD_* EnvironmentFile and the Docker drop-in.
 *   - systemd-analyze verify accepts the unit (no warnings either);
 *   - every variable in weft.env is a `weft run` flag's FLANNELD_* name and its value parses, read
 *     with systemd's EnvironmentFile rules; the unit's ExecStart parses too;
 *   - the Docker drop-in run for real needs root: see systemd.netns.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envName, FLAG_SPECS, parseFlags } from '../../src/control/flags';
import { RUN_EXTRA_FLAGS } from '../../src/cli/commands/run';
import { REPO_ROOT, WEFT_BIN } from '../helpers/paths';
import { readEnvironmentFile, unitValues } from './unit-file';

const DIR = join(REPO_ROOT, 'deploy', 'systemd');

test('systemd-analyze verify accepts weft.service without warnings', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // The unit runs /usr/local/bin/weft; verify checks that ExecStart is executable, so point it at
  // this checkout's bin/weft.
  const unit = readFileSync(join(DIR, 'weft.service'), 'utf8');
  assert.deepEqual(unitValues(unit, 'Service', 'ExecStart'), ['/usr/local/bin/weft run']);
  writeFileSync(
    join(dir, 'weft.service'),
    unit.replace('ExecStart=/usr/local/bin/weft', `ExecStart=${WEFT_BIN}`),
  );
  const r = spawnSync('systemd-analyze', ['verify', join(dir, 'weft.service')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', 'no warnings');
  // Exit 2 is weft's bad-command-line status (docs/errors.md): no restart loop on it.
  assert.deepEqual(unitValues(unit, 'Service', 'RestartPreventExitStatus'), ['2']);
});

test('weft.env holds only FLANNELD_* variables of weft run flags, and they parse', () => {
  const unit = readFileSync(join(DIR, 'weft.service'), 'utf8');
  assert.deepEqual(unitValues(unit, 'Service', 'EnvironmentFile'), ['/etc/weft/weft.env']);
  const env = readEnvironmentFile(readFileSync(join(DIR, 'weft.env'), 'utf8'));
  const known = new Set([...FLAG_SPECS, ...RUN_EXTRA_FLAGS].map((s) => envName(s.name)));
  for (const k of Object.keys(env)) assert.ok(known.has(k), `${k} is not a weft run flag's variable`);
  const argv = unitValues(unit, 'Service', 'ExecStart')[0]!.split(' ').slice(2);
  const f = parseFlags(argv, env, RUN_EXTRA_FLAGS);
  assert.equal(f.store, 'etcd');
  assert.deepEqual(f.etcdEndpoints, ['https://192.0.2.10:2379']);
  assert.deepEqual(f.iface, ['eth0']);
  assert.equal(f.ipMasq, true);
  assert.equal(f.subnetFile, '/run/flannel/subnet.env');
  assert.equal(f.metricsPort, 9464);
  assert.equal(f.extra['log-format'], 'json');
  // Docker's drop-in reads the file weft writes.
  const dropIn = readFileSync(join(DIR, 'docker-weft.conf'), 'utf8');
  assert.deepEqual(unitValues(dropIn, 'Service', 'EnvironmentFile'), [f.subnetFile]);
});

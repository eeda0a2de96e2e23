import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../src/errors';
import { parseFlags } from '../../src/control/flags';
import { loadNetworkConfig, openStore } from '../../src/control/open-store';

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-open-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('flags -> embedded store -> config from the store', async (t) => {
  const dir = tmp(t);
  const flags = parseFlags([`--store-dir=${dir}`], {});
  const store = openStore(flags);
  t.after(() => store.close());
  assert.equal(store.kind, 'embedded');
  await assert.rejects(
    loadNetworkConfig(store, flags),
    (e: unknown) => e instanceof ConfigError && e.field === 'config',
  );
  // Chosen by default (no store flag at all), the error says how to reach etcd as flanneld would.
  await assert.rejects(
    loadNetworkConfig(store, { ...flags, storeFrom: 'default' }),
    (e: unknown) => e instanceof ConfigError && /give --etcd-endpoints/.test(e.message),
  );
  await store.setConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
  const { config, source } = await loadNetworkConfig(store, flags);
  assert.equal(config.subnetLen, 24);
  assert.equal(source, 'embedded:/coreos.com/network/config');
  assert.equal(
    openStore(parseFlags(['--store=etcd', '--etcd-endpoints=http://127.0.0.1:1'], {})).kind,
    'etcd',
  );
  // A flanneld line: the etcd flag alone opens the etcd store.
  const etcd = openStore(parseFlags(['--etcd-endpoints=http://127.0.0.1:1'], {}));
  assert.equal(etcd.kind, 'etcd');
  await etcd.close();
});

test('--net-config-path: read, validated, seeds an empty store; an invalid file writes nothing', async (t) => {
  const dir = tmp(t);
  const good = path.join(dir, 'net-conf.json');
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(good, '{"Network":"10.5.0.0/16","Backend":{"Type":"udp"}}');
  fs.writeFileSync(bad, '{"Network":"10.5.0.0/16","SubnetLen":31}');
  const storeDir = path.join(dir, 'store');
  const badFlags = parseFlags([`--store-dir=${storeDir}`, `--net-config-path=${bad}`], {});
  const s1 = openStore(badFlags);
  t.after(() => s1.close());
  await assert.rejects(
    loadNetworkConfig(s1, badFlags, { seedStore: true }),
    (e: unknown) => e instanceof ConfigError && e.field === 'SubnetLen',
  );
  assert.equal(fs.existsSync(storeDir), false, 'nothing written for an invalid config');
  await assert.rejects(
    loadNetworkConfig(s1, {
      netConfigPath: path.join(dir, 'missing.json'),
      etcdPrefix: '/coreos.com/network',
    }),
    (e: unknown) => e instanceof ConfigError && e.field === '--net-config-path',
  );
  const flags = parseFlags([`--store-dir=${storeDir}`, `--net-config-path=${good}`], {});
  const s2 = openStore(flags);
  t.after(() => s2.close());
  const { config } = await loadNetworkConfig(s2, flags, { seedStore: true });
  assert.equal(config.backend.type, 'udp');
  assert.equal(
    fs.readFileSync(path.join(storeDir, 'coreos.com/network/config'), 'utf8'),
    fs.readFileSync(good, 'utf8'),
  );
});

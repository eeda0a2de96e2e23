/**
 * Which lease store a flanneld command line selects: an explicit etcd flag (or its FLANNELD_*
 * variable) means etcd, as it does to flanneld; `--store` stays an explicit choice; a
 * contradiction is a ConfigError naming both sides.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors';
import { parseFlags } from '../../src/control/flags';

const URL = 'http://127.0.0.1:2379';

test('an explicit --etcd-* flag selects the etcd store (flanneld unit-file lines)', () => {
  const cases: Array<[string[], Record<string, string>, string]> = [
    [['--etcd-endpoints', URL, '--iface', 'eth0'], {}, '--etcd-endpoints'],
    [[`-etcd-endpoints=${URL}`, '-iface=eth0', '-ip-masq'], {}, '--etcd-endpoints'],
    [['--etcd-prefix=/example.com/network'], {}, '--etcd-prefix'],
    [['--etcd-keyfile=/k.pem', '--etcd-certfile=/c.pem'], {}, '--etcd-keyfile'],
    [['--etcd-cafile=/ca.pem'], {}, '--etcd-cafile'],
    [['--etcd-username=flannel', '--etcd-password=secret'], {}, '--etcd-username'],
    [[], { FLANNELD_ETCD_ENDPOINTS: URL }, 'FLANNELD_ETCD_ENDPOINTS'],
    [[], { FLANNELD_ETCD_PREFIX: '/example.com/network' }, 'FLANNELD_ETCD_PREFIX'],
  ];
  for (const [argv, env, from] of cases) {
    const f = parseFlags(argv, env);
    assert.equal(f.store, 'etcd', `${argv.join(' ')} ${JSON.stringify(env)}`);
    assert.equal(f.storeFrom, from);
  }
  const f = parseFlags([`--etcd-endpoints=${URL}`, '--etcd-prefix=/example.com/network'], {});
  assert.deepEqual(f.etcdEndpoints, [URL]);
  assert.equal(f.etcdPrefix, '/example.com/network');
});

test('--store stays an explicit choice; without any store flag weft uses its embedded store', () => {
  assert.equal(parseFlags(['--store', 'etcd'], {}).store, 'etcd');
  assert.equal(parseFlags(['--store', 'etcd'], {}).storeFrom, '--store');
  assert.equal(parseFlags([], { FLANNELD_STORE: 'etcd' }).storeFrom, 'FLANNELD_STORE');
  const none = parseFlags(['--iface', 'eth0'], {});
  assert.equal(none.store, 'embedded');
  assert.equal(none.storeFrom, 'default');
  const dir = parseFlags(['--store-dir', '/tmp/x'], {});
  assert.equal(dir.store, 'embedded');
  assert.equal(dir.storeFrom, '--store-dir');
  // The prefix is also the embedded store's key layout, so it does not contradict --store embedded.
  const emb = parseFlags(['--store=embedded', '--etcd-prefix=/example.com/network'], {});
  assert.equal(emb.store, 'embedded');
  assert.equal(emb.etcdPrefix, '/example.com/network');
  // etcd flags with --store etcd are simply consistent.
  assert.equal(parseFlags(['--store=etcd', `--etcd-endpoints=${URL}`], {}).store, 'etcd');
});

test('contradictions are ConfigErrors naming both flags', () => {
  const bad: Array<[string[], Record<string, string>, string, RegExp]> = [
    [['--store', 'embedded', '--etcd-endpoints', URL], {}, '--store', /--etcd-endpoints/],
    [['--store=embedded', '--etcd-username=u'], {}, '--store', /--etcd-username/],
    [['--etcd-endpoints', URL], { FLANNELD_STORE: 'embedded' }, 'FLANNELD_STORE', /--etcd-endpoints/],
    [['--store=embedded'], { FLANNELD_ETCD_ENDPOINTS: URL }, '--store', /FLANNELD_ETCD_ENDPOINTS/],
    [['--etcd-endpoints', URL, '--store-dir', '/tmp/x'], {}, '--store-dir', /--etcd-endpoints/],
    [['--store=etcd', '--store-dir=/tmp/x'], {}, '--store-dir', /--store/],
  ];
  for (const [argv, env, field, names] of bad) {
    assert.throws(
      () => parseFlags(argv, env),
      (e: unknown) => e instanceof ConfigError && e.field === field && names.test(e.message),
      `${argv.join(' ')} ${JSON.stringify(env)}`,
    );
  }
});

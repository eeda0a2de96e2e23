/**
 * TLS and auth against a real etcd (`/usr/bin/etcd`, private ports, killed by PID): a throwaway CA,
 * server cert (SAN IP 127.0.0.1) and client cert made with `openssl`; etcd with
 * `--client-cert-auth`; weft connects through openStore with flanneld's `--etcd-cafile`
 * `--etcd-certfile` `--etcd-keyfile` (and the FLANNELD_* forms), creates a lease and reads it back.
 * A wrong CA or a missing client cert fails with a StoreError in bounded time. Then etcd auth:
 * `--etcd-username`/`--etcd-password` work, a wrong password fails with a clear StoreError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { TestEtcd } from '../../src/testing/etcd';
import { parseFlags } from '../../src/control/flags';
import { loadNetworkConfig, openStore } from '../../src/control/open-store';
import { vxlanLeaseData } from '../../src/control/lease';
import { parseIpv4Cidr } from '../../src/net/addr';
import { EtcdStore } from '../../src/control/etcd-store';
import { LeaseStore, SUBNET_TTL_SECONDS } from '../../src/control/store';
import { StoreError } from '../../src/errors';

const CONFIG = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';
/** A store call that cannot connect must give up within this (call deadline 5 s + slack). */
const FAIL_WITHIN_MS = 15_000;

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as Error & { code?: string; stderr?: Buffer };
    if (err.code === 'ENOENT')
      throw new Error('openssl not found; install it with: apt-get install -y openssl');
    throw new Error(`openssl ${args.join(' ')}: ${err.stderr?.toString() ?? err.message}`);
  }
}

/** newCa makes a self-signed P-256 CA `<name>.crt`/`<name>.key` in `dir`. */
function newCa(dir: string, name: string): void {
  openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]); // prettier-ignore
}

/** newCert makes `<name>.crt`/`<name>.key` signed by CA `ca`, with extensions `ext`. */
function newCert(dir: string, ca: string, name: string, cn: string, ext: string): void {
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(dir, [
    'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`,
  ]); // prettier-ignore
  openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`,
    '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`,
  ]); // prettier-ignore
}

const ref = { subnet: parseIpv4Cidr('10.244.7.0/24')! };
const attrs = {
  publicIp: '192.0.2.7',
  publicIpv6: null,
  backendType: 'vxlan',
  backendData: vxlanLeaseData(1, '0e:00:00:00:00:07'),
  backendV6Data: null,
};
const LEASE_JSON =
  '{"PublicIP":"192.0.2.7","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0e:00:00:00:00:07"}}';

/** roundTrip: config, create a lease, list it back exactly as flannel's value under an etcd lease. */
async function roundTrip(store: LeaseStore, prefix: string): Promise<void> {
  await store.setConfig(CONFIG);
  const loaded = await loadNetworkConfig(store, { netConfigPath: '', etcdPrefix: prefix });
  assert.equal(loaded.text, CONFIG);
  await store.deleteLease(ref);
  const created = await store.createLease(ref, attrs, SUBNET_TTL_SECONDS);
  assert.equal(created.key, '10.244.7.0-24');
  const { leases } = await store.listLeases();
  assert.equal(leases.length, 1);
  assert.equal(leases[0]!.key, '10.244.7.0-24');
  assert.equal(leases[0]!.attrs.publicIp, '192.0.2.7');
  // The raw value over the same TLS/auth connection: flannel's exact JSON.
  assert.ok(store instanceof EtcdStore);
  assert.equal(await store.client.get(`${prefix}/subnets/10.244.7.0-24`).string(), LEASE_JSON);
  const ttl = (leases[0]!.expiration!.getTime() - Date.now()) / 1000;
  assert.ok(ttl > SUBNET_TTL_SECONDS - 60 && ttl <= SUBNET_TTL_SECONDS + 1, `ttl ${ttl}`);
  await store.deleteLease(ref);
}

/**
 * storeOpener returns `open(argv, env)`: an etcd LeaseStore from `weft` flags and environment under
 * `prefix`, closed when test `t` ends.
 */
function storeOpener(
  t: { after(fn: () => unknown): void },
  prefix: string,
): (argv: string[], env?: Record<string, string>) => LeaseStore {
  const stores: LeaseStore[] = [];
  t.after(() => Promise.all(stores.map((s) => s.close())));
  return (argv, env = {}) => {
    const s = openStore(parseFlags(['--store=etcd', `--etcd-prefix=${prefix}`, ...argv], env));
    stores.push(s);
    return s;
  };
}

/** expectStoreError runs `fn` and asserts a StoreError matching `msg` within FAIL_WITHIN_MS. */
async function expectStoreError(fn: () => Promise<unknown>, msg: RegExp): Promise<StoreError> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`still pending after ${FAIL_WITHIN_MS} ms`)), FAIL_WITHIN_MS);
  });
  try {
    await Promise.race([fn(), hang]);
  } catch (e) {
    assert.ok(e instanceof StoreError, `expected a StoreError, got ${(e as Error)?.stack ?? String(e)}`);
    assert.match(e.message, msg);
    assert.ok(Date.now() - t0 < FAIL_WITHIN_MS);
    return e;
  } finally {
    clearTimeout(timer);
  }
  assert.fail('expected the store call to fail');
}

test(
  'etcd TLS: --etcd-cafile/--etcd-certfile/--etcd-keyfile and FLANNELD_* (client-cert-auth)',
  { timeout: 60_000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-etcd-tls-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    newCa(dir, 'ca');
    newCa(dir, 'other-ca');
    newCert(dir, 'ca', 'server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    newCert(dir, 'ca', 'client', 'weft-client', 'extendedKeyUsage=clientAuth\n');
    const f = (n: string): string => path.join(dir, n);
    const etcd = await TestEtcd.start({
      tls: {
        certFile: f('server.crt'),
        keyFile: f('server.key'),
        caFile: f('ca.crt'),
        clientCertAuth: true,
        clientCertFile: f('client.crt'),
        clientKeyFile: f('client.key'),
      },
    });
    t.after(() => etcd.destroy());
    assert.match(etcd.clientUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    const prefix = `/weft-tls-${process.pid}/network`;
    const open = storeOpener(t, prefix);

    await t.test('flags', async () => {
      const s = open([
        `--etcd-endpoints=${etcd.clientUrl}`,
        `--etcd-cafile=${f('ca.crt')}`,
        `--etcd-certfile=${f('client.crt')}`,
        `--etcd-keyfile=${f('client.key')}`,
      ]);
      await roundTrip(s, prefix);
    });

    await t.test('FLANNELD_* environment', async () => {
      const s = open([], {
        FLANNELD_ETCD_ENDPOINTS: etcd.clientUrl,
        FLANNELD_ETCD_CAFILE: f('ca.crt'),
        FLANNELD_ETCD_CERTFILE: f('client.crt'),
        FLANNELD_ETCD_KEYFILE: f('client.key'),
      });
      await roundTrip(s, prefix);
    });

    await t.test('a wrong CA fails with a StoreError in bounded time', async () => {
      const s = open([
        `--etcd-endpoints=${etcd.clientUrl}`,
        `--etcd-cafile=${f('other-ca.crt')}`,
        `--etcd-certfile=${f('client.crt')}`,
        `--etcd-keyfile=${f('client.key')}`,
      ]);
      const e = await expectStoreError(() => s.getConfig(), /etcd get config failed/);
      assert.match(e.message, /certificate|handshake|TLS|SSL/i);
    });

    await t.test('no client certificate fails with a StoreError in bounded time', async () => {
      const s = open([`--etcd-endpoints=${etcd.clientUrl}`, `--etcd-cafile=${f('ca.crt')}`]);
      await expectStoreError(() => s.getConfig(), /etcd get config failed/);
    });

    await t.test('an unreadable CA file is a StoreError naming the flag', () => {
      assert.throws(
        () => open([`--etcd-endpoints=${etcd.clientUrl}`, `--etcd-cafile=${f('missing.crt')}`]),
        (e: unknown) => e instanceof StoreError && /--etcd-cafile .*missing\.crt/.test(e.message),
      );
    });
  },
);

test(
  'etcd auth: --etcd-username/--etcd-password (and FLANNELD_*), wrong password fails clearly',
  { timeout: 60_000 },
  async (t) => {
    const etcd = await TestEtcd.start();
    t.after(() => etcd.destroy());
    const ctl = (...args: string[]): string =>
      execFileSync('etcdctl', ['--endpoints', etcd.clientUrl, ...args], {
        env: { ...process.env, ETCDCTL_API: '3' },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    ctl('user', 'add', 'root', '--new-user-password=weft-s3cret');
    ctl('auth', 'enable');
    const prefix = `/weft-auth-${process.pid}/network`;
    const open = storeOpener(t, prefix);

    await t.test('without credentials etcd refuses', async () => {
      const s = open([`--etcd-endpoints=${etcd.clientUrl}`]);
      await expectStoreError(
        () => s.getConfig(),
        /etcd get config failed: .*(user name is empty|permission denied)/i,
      );
    });

    await t.test('flags', async () => {
      const s = open([
        `--etcd-endpoints=${etcd.clientUrl}`,
        '--etcd-username=root',
        '--etcd-password=weft-s3cret',
      ]);
      await roundTrip(s, prefix);
    });

    await t.test('FLANNELD_* environment', async () => {
      const s = open([], {
        FLANNELD_ETCD_ENDPOINTS: etcd.clientUrl,
        FLANNELD_ETCD_USERNAME: 'root',
        FLANNELD_ETCD_PASSWORD: 'weft-s3cret',
      });
      await roundTrip(s, prefix);
    });

    await t.test('a wrong password fails with a clear StoreError', async () => {
      const s = open([`--etcd-endpoints=${etcd.clientUrl}`, '--etcd-username=root', '--etcd-password=wrong']);
      await expectStoreError(() => s.getConfig(), /etcd get config failed: .*authentication failed/i);
    });
  },
);

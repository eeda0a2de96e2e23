/**
 * `weft link` flag parsing: defaults, per-backend rules, and errors that name the flag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLinkArgs, parsePeer, randomVtepMac, usage } from '../../src/cli/commands/link';
import { ConfigError, UsageError } from '../../src/errors';

const BASE = ['--dev', 'weft0', '--local', '192.0.2.1', '--address', '10.244.0.1/32'];

test('defaults follow flannel: vxlan port 8472 VNI 1, udp port 8285, batch I/O, random local MAC', () => {
  const v = parseLinkArgs([
    '--backend',
    'vxlan',
    ...BASE,
    '--peer',
    '10.244.1.0/24=192.0.2.2,0e:00:00:00:00:02',
  ]);
  assert.equal(v.config.port, 8472);
  assert.equal(v.config.vni, 1);
  assert.equal(v.config.io, 'batch');
  assert.equal(v.config.mtu, undefined);
  assert.equal(v.statsSeconds, 0);
  assert.equal(v.config.workers, 1);
  assert.equal(v.config.vtepMac[0]! & 0x03, 0x02);
  assert.deepEqual(v.config.peers[0]!.vtepMac, Buffer.from([0x0e, 0, 0, 0, 0, 2]));
  assert.equal(v.config.peers[0]!.publicIpU32, 0xc0000202);
  const u = parseLinkArgs([
    '--backend',
    'udp',
    ...BASE,
    '--peer',
    '10.244.1.0/24=192.0.2.2',
    '--io',
    'dgram',
  ]);
  assert.equal(u.config.port, 8285);
  assert.equal(u.config.io, 'dgram');
  assert.equal(u.config.peers[0]!.vtepMac, null);
});

test('explicit values, repeated --peer and --flag=value forms', () => {
  const o = parseLinkArgs([
    '--backend=vxlan', ...BASE, '--vni', '42', '--port=4789', '--vtep-mac', '02:11:22:33:44:55', '--mtu', '1400',
    '--stats', '2.5', '--peer', '10.244.1.0/24=192.0.2.2,0e:00:00:00:00:02', '--peer', '10.244.2.0/24=192.0.2.3,0e:00:00:00:00:03',
  ]); // prettier-ignore
  assert.equal(o.config.vni, 42);
  assert.equal(o.config.port, 4789);
  assert.equal(o.config.mtu, 1400);
  assert.equal(o.statsSeconds, 2.5);
  assert.equal(o.config.peers.length, 2);
  assert.deepEqual(o.config.vtepMac, Buffer.from([2, 0x11, 0x22, 0x33, 0x44, 0x55]));
});

test('--workers N sets the forwarding workers (1..16); the usage documents it', () => {
  const argv = ['--backend', 'udp', ...BASE, '--peer', '10.1.0.0/16=192.0.2.2'];
  assert.equal(parseLinkArgs([...argv, '--workers', '4']).config.workers, 4);
  assert.equal(parseLinkArgs([...argv, '--workers=16']).config.workers, 16);
  assert.equal(parseLinkArgs([...argv, '--workers', '1']).config.workers, 1);
  assert.match(
    usage,
    /--workers N +forwarding workers: the TUN is opened multi-queue, one queue per worker\n +thread \(default 1\)/,
  );
});

test('random VTEP MACs are locally administered unicast and differ', () => {
  const a = randomVtepMac();
  const b = randomVtepMac();
  assert.equal(a.length, 6);
  assert.equal(a[0]! & 0x03, 0x02);
  assert.notDeepEqual(a, b);
});

const BAD: Array<[string, string[], typeof UsageError | typeof ConfigError, RegExp]> = [
  ['unknown flag', ['--backend', 'udp', ...BASE, '--bogus', '1'], UsageError, /--bogus/],
  ['missing --dev', ['--backend', 'udp', '--local', '192.0.2.1', '--address', '10.0.0.1/32', '--peer', '10.1.0.0/16=192.0.2.2'], UsageError, /--dev/],
  ['missing --peer', ['--backend', 'udp', ...BASE], UsageError, /--peer/],
  ['flag without value', ['--backend', 'udp', ...BASE, '--peer'], UsageError, /--peer needs a value/],
  ['bad backend', ['--backend', 'gre', ...BASE, '--peer', '10.1.0.0/16=192.0.2.2'], ConfigError, /--backend/],
  ['long dev name', ['--backend', 'udp', '--dev', 'a-very-long-device', '--local', '192.0.2.1', '--address', '10.0.0.1/32', '--peer', '10.1.0.0/16=192.0.2.2'], ConfigError, /--dev/],
  ['bad local', ['--backend', 'udp', '--dev', 'w0', '--local', '192.0.2', '--address', '10.0.0.1/32', '--peer', '10.1.0.0/16=192.0.2.2'], ConfigError, /--local/],
  ['address without length', ['--backend', 'udp', '--dev', 'w0', '--local', '192.0.2.1', '--address', '10.0.0.1', '--peer', '10.1.0.0/16=192.0.2.2'], ConfigError, /--address/],
  ['VNI out of range', ['--backend', 'vxlan', ...BASE, '--vni', '16777216', '--peer', '10.1.0.0/16=192.0.2.2,0e:00:00:00:00:02'], ConfigError, /--vni/],
  ['port 0', ['--backend', 'udp', ...BASE, '--port', '0', '--peer', '10.1.0.0/16=192.0.2.2'], ConfigError, /--port/],
  ['multicast MAC', ['--backend', 'vxlan', ...BASE, '--vtep-mac', '01:00:5e:00:00:01', '--peer', '10.1.0.0/16=192.0.2.2,0e:00:00:00:00:02'], ConfigError, /--vtep-mac/],
  ['tiny MTU', ['--backend', 'udp', ...BASE, '--mtu', '40', '--peer', '10.1.0.0/16=192.0.2.2'], ConfigError, /--mtu/],
  ['bad io', ['--backend', 'udp', ...BASE, '--io', 'uring', '--peer', '10.1.0.0/16=192.0.2.2'], ConfigError, /--io/],
  ['bad stats', ['--backend', 'udp', ...BASE, '--stats', '0', '--peer', '10.1.0.0/16=192.0.2.2'], ConfigError, /--stats/],
  ['vxlan peer without MAC', ['--backend', 'vxlan', ...BASE, '--peer', '10.1.0.0/16=192.0.2.2'], ConfigError, /VTEP MAC/],
  ['peer with host bits', ['--backend', 'udp', ...BASE, '--peer', '10.1.0.1/16=192.0.2.2'], ConfigError, /host bits/],
  ['peer without =', ['--backend', 'udp', ...BASE, '--peer', '10.1.0.0/16'], ConfigError, /--peer/],
  ['workers 0', ['--backend', 'udp', ...BASE, '--workers', '0', '--peer', '10.1.0.0/16=192.0.2.2'], ConfigError, /--workers: must be an integer from 1 to 16 \("0"\)/],
  ['workers 17', ['--backend', 'udp', ...BASE, '--workers=17', '--peer', '10.1.0.0/16=192.0.2.2'], ConfigError, /--workers: must be an integer from 1 to 16/],
  ['workers not a number', ['--backend', 'udp', ...BASE, '--workers', 'two', '--peer', '10.1.0.0/16=192.0.2.2'], ConfigError, /--workers: must be an integer from 1 to 16 \("two"\)/],
  ['workers negative', ['--backend', 'udp', ...BASE, '--workers=-1', '--peer', '10.1.0.0/16=192.0.2.2'], ConfigError, /--workers/],
  ['workers without value', ['--backend', 'udp', ...BASE, '--peer', '10.1.0.0/16=192.0.2.2', '--workers'], UsageError, /--workers needs a value/],
  ['given twice', ['--backend', 'udp', ...BASE, '--dev', 'w1', '--peer', '10.1.0.0/16=192.0.2.2'], UsageError, /--dev given twice/],
]; // prettier-ignore

for (const [name, argv, type, re] of BAD) {
  test(`rejects: ${name}`, () => {
    assert.throws(
      () => parseLinkArgs(argv),
      (err: unknown) => {
        assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
        assert.match((err as Error).message, re);
        return true;
      },
    );
  });
}

test('parsePeer canonicalises the subnet and keeps the MAC', () => {
  const p = parsePeer('10.244.1.0/24=192.0.2.2,0E-00-00-00-00-02', 'vxlan');
  assert.equal(p.subnet, '10.244.1.0/24');
  assert.equal(p.publicIp, '192.0.2.2');
  assert.deepEqual(p.vtepMac, Buffer.from([0x0e, 0, 0, 0, 0, 2]));
});

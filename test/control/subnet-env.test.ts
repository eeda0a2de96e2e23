import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatSubnetEnv, parseSubnetEnv, readSubnetEnv, writeSubnetEnv } from '../../src/control/subnet-env';
import { parseIpv4Cidr, parseIpv6Cidr } from '../../src/net/addr';

test('format is exactly flannel WriteSubnetFile (IPv4)', () => {
  const s = formatSubnetEnv({
    network: parseIpv4Cidr('10.5.0.0/16'),
    subnet: parseIpv4Cidr('10.5.52.0/24'),
    ipv6Network: null,
    ipv6Subnet: null,
    mtu: 1450,
    ipMasq: false,
  });
  assert.equal(
    s,
    'FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.52.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n',
  );
});

test('format with IPv6 enabled', () => {
  const s = formatSubnetEnv({
    network: parseIpv4Cidr('10.5.0.0/16'),
    subnet: parseIpv4Cidr('10.5.52.0/24'),
    ipv6Network: parseIpv6Cidr('2001:cafe:42::/56'),
    ipv6Subnet: parseIpv6Cidr('2001:cafe:42::/64'),
    mtu: 1472,
    ipMasq: true,
  });
  assert.equal(
    s,
    'FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.52.1/24\nFLANNEL_IPV6_NETWORK=2001:cafe:42::/56\nFLANNEL_IPV6_SUBNET=2001:cafe:42::1/64\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n',
  );
  const back = parseSubnetEnv(s);
  assert.deepEqual(back.subnet, parseIpv4Cidr('10.5.52.0/24'));
  assert.deepEqual(back.ipv6Subnet, parseIpv6Cidr('2001:cafe:42::/64'));
  assert.equal(back.mtu, 1472);
  assert.equal(back.ipMasq, true);
});

test('parse tolerates godotenv forms and ignores multi-valued entries like flannel', () => {
  const p = parseSubnetEnv(
    '# c\nexport FLANNEL_SUBNET="10.1.2.1/24"\nFLANNEL_IPV6_SUBNET=fd00::1/64,fd01::1/64\n',
  );
  assert.deepEqual(p.subnet, parseIpv4Cidr('10.1.2.0/24'));
  assert.equal(p.ipv6Subnet, null);
  assert.equal(parseSubnetEnv('FLANNEL_SUBNET=garbage').subnet, null);
});

test('write is atomic (temp + rename), 0644, creates parents, reads back', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-env-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'run', 'flannel', 'subnet.env');
  const old = process.umask(0o077);
  try {
    await writeSubnetEnv(file, {
      network: parseIpv4Cidr('10.5.0.0/16'),
      subnet: parseIpv4Cidr('10.5.3.0/24'),
      ipv6Network: null,
      ipv6Subnet: null,
      mtu: 1450,
      ipMasq: false,
    });
  } finally {
    process.umask(old);
  }
  assert.equal(fs.statSync(file).mode & 0o777, 0o644);
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ['subnet.env'], 'no temp file left behind');
  const ino = fs.statSync(file).ino;
  await writeSubnetEnv(file, {
    network: parseIpv4Cidr('10.5.0.0/16'),
    subnet: parseIpv4Cidr('10.5.4.0/24'),
    ipv6Network: null,
    ipv6Subnet: null,
    mtu: 1450,
    ipMasq: false,
  });
  assert.notEqual(fs.statSync(file).ino, ino, 'replaced by rename, not rewritten in place');
  const back = await readSubnetEnv(file);
  assert.deepEqual(back!.subnet, parseIpv4Cidr('10.5.4.0/24'));
  assert.equal(await readSubnetEnv(path.join(dir, 'absent')), null);
});

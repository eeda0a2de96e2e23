import test from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, UsageError } from '../../src/errors';
import { envName, flagsUsage, parseFlags } from '../../src/control/flags';

test('defaults match flanneld (plus weft additions)', () => {
  const f = parseFlags([], {});
  assert.deepEqual(f.etcdEndpoints, ['http://127.0.0.1:4001', 'http://127.0.0.1:2379']);
  assert.equal(f.etcdPrefix, '/coreos.com/network');
  assert.equal(f.subnetFile, '/run/flannel/subnet.env');
  assert.equal(f.subnetLeaseRenewMargin, 60);
  assert.equal(f.ipMasq, false);
  assert.equal(f.healthzIp, '0.0.0.0');
  assert.equal(f.healthzPort, 0);
  assert.equal(f.iptablesForwardRules, true);
  assert.equal(f.store, 'embedded');
  assert.equal(f.storeDir, '/var/lib/weft/store');
  assert.equal(f.io, 'batch');
  assert.equal(f.subnetLeaseTtl, 86400);
  assert.equal(f.explicit.size, 0);
});

test('--flag=value, --flag value, -flag, booleans, repeatable, lists', () => {
  const f = parseFlags(
    [
      '--etcd-endpoints=http://a:1, http://b:2',
      '-iface',
      'eth0',
      '--iface=eth1',
      '--ip-masq',
      '--iptables-forward-rules=false',
      '--healthz-port',
      '8081',
      '--public-ip=192.0.2.3',
    ],
    {},
  );
  assert.deepEqual(f.etcdEndpoints, ['http://a:1', 'http://b:2']);
  assert.deepEqual(f.iface, ['eth0', 'eth1']);
  assert.equal(f.ipMasq, true);
  assert.equal(f.iptablesForwardRules, false);
  assert.equal(f.healthzPort, 8081);
  assert.equal(f.publicIp, '192.0.2.3');
  assert.ok(f.explicit.has('ip-masq'));
  assert.equal(parseFlags(['--ip-masq=T'], {}).ipMasq, true);
  assert.equal(parseFlags(['--ip-masq=0'], {}).ipMasq, false);
});

test('FLANNELD_* environment applies, the command line wins', () => {
  assert.equal(envName('etcd-endpoints'), 'FLANNELD_ETCD_ENDPOINTS');
  const env = {
    FLANNELD_ETCD_ENDPOINTS: 'http://e:2379',
    FLANNELD_IP_MASQ: 'true',
    FLANNELD_IFACE: 'eth9',
    FLANNELD_STORE: 'etcd',
    FLANNELD_SUBNET_LEASE_RENEW_MARGIN: '30',
  };
  const f = parseFlags(['--etcd-endpoints=http://cli:2379'], env);
  assert.deepEqual(f.etcdEndpoints, ['http://cli:2379']);
  assert.equal(f.ipMasq, true);
  assert.deepEqual(f.iface, ['eth9']);
  assert.equal(f.store, 'etcd');
  assert.equal(f.subnetLeaseRenewMargin, 30);
  assert.equal(parseFlags(['--ip-masq=false'], env).ipMasq, false);
});

test('extra specs land in extra', () => {
  const f = parseFlags(['--tun-name', 'weft9'], {}, [
    { name: 'tun-name', kind: 'string', default: 'weft0', help: 'x' },
  ]);
  assert.equal(f.extra['tun-name'], 'weft9');
  assert.match(flagsUsage(), /--etcd-endpoints value/);
  assert.match(flagsUsage(), /FLANNELD_STORE_DIR/);
});

const bad: [string[], Record<string, string>, string][] = [
  [['--subnet-lease-renew-margin=0'], {}, '--subnet-lease-renew-margin'],
  [['--subnet-lease-renew-margin=1440'], {}, '--subnet-lease-renew-margin'],
  [['--subnet-lease-renew-margin=abc'], {}, '--subnet-lease-renew-margin'],
  [['--healthz-port=70000'], {}, '--healthz-port'],
  [['--ip-masq=yes'], {}, '--ip-masq'],
  [['--public-ip=300.1.1.1'], {}, '--public-ip'],
  [['--public-ipv6=zz::1'], {}, '--public-ipv6'],
  [['--store=zookeeper'], {}, '--store'],
  [['--io=fast'], {}, '--io'],
  [['--etcd-prefix=coreos.com'], {}, '--etcd-prefix'],
  [['--metrics-port=-1'], {}, '--metrics-port'],
  [[], { FLANNELD_HEALTHZ_PORT: 'x' }, 'FLANNELD_HEALTHZ_PORT'],
  [[], { FLANNELD_IP_MASQ: 'maybe' }, 'FLANNELD_IP_MASQ'],
  [['--etcd-keyfile=/k.pem'], {}, '--etcd-certfile'],
];
for (const [argv, env, field] of bad) {
  test(`bad value -> ConfigError naming ${field}`, () => {
    assert.throws(
      () => parseFlags(argv, env),
      (e: unknown) => e instanceof ConfigError && e.field === field,
    );
  });
}

test('unknown flags, missing values and stray arguments are UsageErrors', () => {
  assert.throws(() => parseFlags(['--nope'], {}), UsageError);
  assert.throws(() => parseFlags(['--iface'], {}), UsageError);
  assert.throws(() => parseFlags(['stray'], {}), UsageError);
});

/**
 * weft run's `--src-port` / `--src-port-range` (weft flags, FLANNELD_SRC_PORT / _RANGE in the env).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envName, flagsUsage, parseFlags } from '../../src/control/flags';
import { ConfigError } from '../../src/errors';

test('--src-port defaults to flow (as kernel VXLAN; the daemon uses fixed for udp and --io dgram) with range 49152-65535', () => {
  const f = parseFlags([], {});
  assert.equal(f.srcPort, 'flow');
  assert.ok(!f.explicit.has('src-port'));
  assert.ok(!f.explicit.has('src-port'));
  assert.equal(f.srcPortRange, '49152-65535');
  assert.equal(envName('src-port'), 'FLANNELD_SRC_PORT');
  assert.match(flagsUsage(), /--src-port value\n.*\(default flow\) \[FLANNELD_SRC_PORT\]/);
  assert.match(flagsUsage(), /--src-port-range value\n.*\(default 49152-65535\) \[FLANNELD_SRC_PORT_RANGE\]/);
});

test('--src-port flow and a range from the command line or FLANNELD_*; the command line wins', () => {
  const cli = parseFlags(['--src-port', 'flow', '--src-port-range=50000-50099'], {});
  assert.equal(cli.srcPort, 'flow');
  assert.equal(cli.srcPortRange, '50000-50099');
  assert.ok(cli.explicit.has('src-port'));
  const env = parseFlags([], { FLANNELD_SRC_PORT: 'flow', FLANNELD_SRC_PORT_RANGE: '60000-60001' });
  assert.equal(env.srcPort, 'flow');
  assert.equal(env.srcPortRange, '60000-60001');
  const both = parseFlags(['--src-port=fixed'], { FLANNELD_SRC_PORT: 'flow' });
  assert.equal(both.srcPort, 'fixed');
});

test('bad --src-port / --src-port-range values are ConfigErrors naming the flag or variable', () => {
  const bad = (argv: string[], env: Record<string, string>, field: string): void =>
    assert.throws(
      () => parseFlags(argv, env),
      (e: unknown) => e instanceof ConfigError && e.field === field,
    );
  bad(['--src-port', 'hash'], {}, '--src-port');
  bad([], { FLANNELD_SRC_PORT: 'yes' }, 'FLANNELD_SRC_PORT');
  bad(['--src-port-range', '70000-70001'], {}, '--src-port-range');
  bad(['--src-port-range', '9-8'], {}, '--src-port-range');
  bad([], { FLANNELD_SRC_PORT_RANGE: '49152' }, 'FLANNELD_SRC_PORT_RANGE');
});

test('--vxlan-rco: off by default, on from the command line or FLANNELD_VXLAN_RCO', () => {
  assert.equal(parseFlags([], {}).vxlanRco, false);
  assert.equal(parseFlags(['--vxlan-rco'], {}).vxlanRco, true);
  assert.equal(parseFlags([], { FLANNELD_VXLAN_RCO: 'true' }).vxlanRco, true);
  assert.match(flagsUsage(), /--vxlan-rco\n.*Remote Checksum Offload.*\[FLANNELD_VXLAN_RCO\]/);
});

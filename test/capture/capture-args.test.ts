import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildFilter, parseCaptureArgs, portMap } from '../../src/cli/commands/capture';
import { FlagValueError, UsageError } from '../../src/errors';

test('capture flags parse; defaults give the flannel port filter', () => {
  const o = parseCaptureArgs(['-i', 'eth0', '-c', '4', '-w', '/tmp/x.pcap', '--explain', '--vni', '1']);
  assert.equal(o.iface, 'eth0');
  assert.equal(o.count, 4);
  assert.equal(o.write, '/tmp/x.pcap');
  assert.equal(o.explain, true);
  assert.equal(o.vni, 1);
  assert.equal(buildFilter(o), 'udp port 8472 or udp port 8285 or (ip and ip[6:2] & 0x1fff != 0)');
  assert.deepEqual(
    [...portMap(o)],
    [
      [8472, 'vxlan'],
      [8285, 'udp'],
    ],
  );
});

test('-f is ANDed; --port replaces the defaults and takes --backend', () => {
  const o = parseCaptureArgs(['--port', '4789', '--port=9000', '--backend', 'vxlan', '-f', 'host 192.0.2.2']);
  assert.deepEqual(
    [...portMap(o)],
    [
      [4789, 'vxlan'],
      [9000, 'vxlan'],
    ],
  );
  assert.equal(
    buildFilter(o),
    '(udp port 4789 or udp port 9000 or (ip and ip[6:2] & 0x1fff != 0)) and (host 192.0.2.2)',
  );
  assert.deepEqual([...portMap(parseCaptureArgs(['--backend', 'udp']))], [[8285, 'udp']]);
  assert.equal(buildFilter(parseCaptureArgs(['--all', '-f', 'arp'])), 'arp');
});

test('bad capture flags are usage errors', () => {
  for (const argv of [
    ['--bogus'],
    ['-c', 'x'],
    ['--port', '70000'],
    ['--backend', 'geneve'],
    ['-i'],
    ['--vni', '16777216'],
  ]) {
    assert.throws(
      () => parseCaptureArgs(argv),
      (e: unknown) => e instanceof UsageError || e instanceof FlagValueError,
      argv.join(' '),
    );
  }
});

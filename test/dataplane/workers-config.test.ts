/**
 * `workers` settings a DataplaneNode refuses before it opens anything: out of range, with the
 * per-packet dgram path (one libuv socket cannot join a reuseport group), and over fake devices.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors';
import { DataplaneNode, type NodeConfig, type NodeDeps } from '../../src/dataplane/node';
import { checkWorkers, parseWorkers, MAX_WORKERS } from '../../src/dataplane/workers';

// Never used: every case fails validation before a device is touched.
const unusedDeps = { tun: {}, io: {} } as unknown as NodeDeps;

function config(over: Partial<NodeConfig>): NodeConfig {
  return {
    backend: 'vxlan',
    dev: 'wkcfg0',
    local: '192.0.2.1',
    address: '10.244.0.1/32',
    vni: 1,
    port: 8472,
    vtepMac: Buffer.from([0x0e, 0, 0, 0, 0x0a, 1]),
    io: 'batch',
    peers: [],
    ...over,
  };
}

function rejectsWith(field: string, rule: RegExp) {
  return (e: unknown): boolean => e instanceof ConfigError && e.field === field && rule.test(e.rule);
}

test('workers out of range is a ConfigError naming --workers', async () => {
  for (const w of [0, MAX_WORKERS + 1, 1.5, -1]) {
    await assert.rejects(
      new DataplaneNode(config({ workers: w }), unusedDeps).start(),
      rejectsWith('--workers', /integer from 1 to 16/),
      String(w),
    );
  }
  assert.throws(() => checkWorkers(17), rejectsWith('--workers', /1 to 16/));
  assert.equal(parseWorkers('4'), 4);
  assert.throws(() => parseWorkers('two'), rejectsWith('--workers', /integer/));
});

test('workers > 1 needs --io batch', async () => {
  await assert.rejects(
    new DataplaneNode(config({ workers: 2, io: 'dgram' }), unusedDeps).start(),
    rejectsWith('--workers', /--io batch/),
  );
});

test('workers > 1 needs kernel devices (fakes have one queue)', async () => {
  await assert.rejects(
    new DataplaneNode(config({ workers: 2 }), unusedDeps).start(),
    rejectsWith('--workers', /kernel devices/),
  );
});

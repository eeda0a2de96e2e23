import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Anomaly,
  ANOMALY_COUNT,
  ANOMALY_NAMES,
  countersToObject,
  DropReason,
  DROP_REASON_COUNT,
  DROP_REASON_NAMES,
  newAnomalyCounters,
  newDropCounters,
} from '../../src/encap/drop-reason';

test('drop reasons are dense, unique, and named in snake_case', () => {
  const slots = Object.values(DropReason).sort((a, b) => a - b);
  assert.deepEqual(slots, [...Array(DROP_REASON_COUNT).keys()]);
  assert.equal(DROP_REASON_NAMES.length, DROP_REASON_COUNT);
  for (const n of DROP_REASON_NAMES) assert.match(n, /^[a-z][a-z0-9_]*$/);
  assert.equal(DROP_REASON_NAMES[DropReason.badVxlanFlags], 'bad_vxlan_flags');
  assert.equal(DROP_REASON_NAMES[DropReason.ownInnerSrcMac], 'own_inner_src_mac');
  for (const r of [
    'tooShort',
    'badVxlanFlags',
    'badVni',
    'badInnerDstMac',
    'ownInnerSrcMac',
    'badEthertype',
    'badInnerIp',
    'unknownSource',
    'noRoute',
    'ttlExpired',
    'tooBig',
    'badIpVersion',
    'peerBackendMismatch',
    'tunWriteError',
    'sendError',
  ]) {
    assert.ok(r in DropReason, r);
  }
  const c = newDropCounters();
  assert.ok(c instanceof Float64Array && c.length === DROP_REASON_COUNT);
  c[DropReason.noRoute] = 3;
  assert.equal(countersToObject(c, DROP_REASON_NAMES).no_route, 3);
});

test('anomalies are dense and named', () => {
  assert.equal(ANOMALY_NAMES[Anomaly.vxlanReservedBitsSet], 'vxlan_reserved_bits_set');
  assert.equal(newAnomalyCounters().length, ANOMALY_COUNT);
  assert.equal(ANOMALY_NAMES.length, ANOMALY_COUNT);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ViewCache } from '../../src/wire/view-cache';

test('ViewCache: one view per buffer, the last two kept, over the buffer bytes only', () => {
  const backing = new ArrayBuffer(64);
  const a = new Uint8Array(backing, 8, 16);
  const b = new Uint8Array(32);
  const c = new Uint8Array(4);
  const views = new ViewCache();
  const va = views.of(a);
  assert.equal(va.byteOffset, 8);
  assert.equal(va.byteLength, 16);
  va.setUint16(0, 0x1234);
  assert.deepEqual([a[0], a[1]], [0x12, 0x34]);
  assert.equal(views.of(a), va, 'the same buffer again: the same view');
  const vb = views.of(b);
  assert.notEqual(vb, va);
  assert.equal(views.of(a), va, 'alternating two buffers makes no new view');
  assert.equal(views.of(b), vb);
  const vc = views.of(c);
  assert.equal(vc.byteLength, 4);
  assert.equal(views.of(b), vb, 'the previous buffer is still kept');
  assert.notEqual(views.of(a), va, 'a third buffer pushed the oldest out');
});

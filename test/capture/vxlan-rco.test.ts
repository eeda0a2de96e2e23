/**
 * The RCO fields of a VXLAN header (draft-herbert-vxlan-rco) in `weft explain` and the capture
 * summary line: named and decoded, not reported as stray reserved bits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarizeFrame } from '../../src/capture/summarize';
import { explainFrame } from '../../src/explain';
import { eth, ipv4, tcp, vxlanFrame } from '../../src/testing/packets';

/** rcoFrame: VXLAN (C flag, start 34 = 14 + 20, TCP offset) around Ethernet/IPv4/TCP. */
function rcoFrame(): Buffer {
  const inner = eth('0e:00:00:00:0b:02', '0e:00:00:00:0a:01', 0x0800, ipv4('10.244.0.1', '10.244.1.1', 6, tcp(40000, 80, 1, 0, 0x18, Buffer.alloc(32, 7))));
  const f = vxlanFrame(inner);
  const vx = 14 + 20 + 8;
  f[vx + 1] = 0x20; // C
  f[vx + 7] = 34 >> 1; // start / 2, O clear: TCP
  return f;
} // prettier-ignore

test('summary line: VXLAN vni 1 RCO start 34 tcp, no reserved-bits warning', () => {
  const s = summarizeFrame(rcoFrame());
  assert.match(s.text, /VXLAN vni 1 RCO start 34 tcp \|/);
  assert.doesNotMatch(s.text, /reserved bits set/);
  assert.equal(s.kind, 'vxlan');
});

test('weft explain names the C flag and decodes start and offset', () => {
  const out = explainFrame(rcoFrame(), { link: 'eth' });
  assert.match(out, /C \(RCO fields present\)/);
  assert.match(out, /checksum start 34 \(inner L4 header at 20 into the IP packet\), TCP checksum field at \+16/);
  assert.match(out, /Remote Checksum Offload/);
  const plain = vxlanFrame(eth('0e:00:00:00:0b:02', '0e:00:00:00:0a:01', 0x0800, ipv4('10.244.0.1', '10.244.1.1', 6, tcp(1, 2, 0, 0, 2))));
  assert.doesNotMatch(explainFrame(plain, { link: 'eth' }), /RCO/);
}); // prettier-ignore

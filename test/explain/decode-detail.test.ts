import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  DEFAULT_PORTS,
  LinkType,
  decodeFrame,
  renderExplanation,
  type ExplainOptions,
  type Explanation,
  type OverlayKind,
} from '../../src/explain';
import { macText } from '../../src/explain/names';
import { bufferToMac } from '../../src/net/addr';
import { fixture } from '../golden/fixtures';
import {
  eth,
  icmpEcho,
  ipv4,
  ipv6,
  ipv6Ext,
  ipv6Frag,
  tagged,
  tcp,
  udp,
  vxlanFrame,
  vxlanHdr,
} from '../../src/testing/packets';

const kernel = fixture('kernel-vxlan-8472.pcap');
const socat = fixture('socat-udp-8285.pcap');
const A = '0e:aa:00:00:00:01';
const B = '0e:bb:00:00:00:02';

/** Frames that reach every decoder branch: overlays, IPv6 extension headers, tags, ARP, ICMP errors. */
function seeds(): Buffer[] {
  const inner = ipv4('10.244.0.1', '10.244.1.1', 6, tcp(1, 2, 3, 4, 0x18, Buffer.alloc(10)));
  const datagram = udp(49321, 8472, Buffer.concat([vxlanHdr(1), eth(B, A, 0x0800, inner)]));
  const unreachable = Buffer.concat([Buffer.from([3, 3, 0, 0, 0, 0, 0, 0]), inner.subarray(0, 28)]);
  return [
    ...kernel.records.map((r) => r.data),
    ...socat.records.map((r) => r.data),
    vxlanFrame(eth(B, A, 0x0800, ipv4('10.244.0.1', '10.244.1.1', 1, icmpEcho(8, 4, 1)))),
    vxlanFrame(eth(B, A, 0x86dd, ipv6(58, icmpEcho(8, 1, 1).fill(128, 0, 1)))),
    vxlanFrame(eth(B, A, 0x0800, ipv4('10.244.0.1', '10.244.1.1', 1, unreachable))),
    vxlanFrame(tagged(B, A, [0x88a8, 0x8100], 0x0800, inner)),
    eth(
      B,
      A,
      0x86dd,
      ipv6(0, Buffer.concat([ipv6Ext(43), Buffer.from([17, 0, 0, 0, 0, 0, 0, 0]), datagram])),
    ),
    eth(B, A, 0x86dd, ipv6(44, Buffer.concat([ipv6Frag(17, 100, false, 7), Buffer.alloc(16)]))),
    eth(B, A, 0x0806, Buffer.concat([Buffer.from('0001080006040001', 'hex'), Buffer.alloc(20, 1)])),
    ipv4('192.0.2.1', '192.0.2.2', 17, datagram, { fragWord: 0x2000 }),
  ];
}

/** What the one-line summary reads from a layer: where it is, and its values and verdict. */
function verdicts(ex: Explanation): unknown[] {
  return ex.layers.map((l) => ({
    name: l.name,
    role: l.role,
    ref: l.ref,
    offset: l.offset,
    info: l.info,
    problem: l.problem,
  }));
}

describe('decode detail: summary and full agree', () => {
  it("records every layer's info and problem identically on fuzzed frames (fast-check)", () => {
    const base = seeds();
    const ports: ReadonlyMap<number, OverlayKind> = new Map([...DEFAULT_PORTS, [9999, 'auto' as const]]);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc
            .tuple(
              fc.constantFrom(...base),
              fc.array(fc.tuple(fc.nat(200), fc.nat(255)), { maxLength: 8 }),
              fc.nat(1600),
            )
            .map(([seed, edits, cut]) => {
              const b = Buffer.from(seed.subarray(0, Math.max(cut, 1)));
              for (const [p, v] of edits) if (p < b.length) b[p] = v;
              return b;
            }),
        ),
        fc.constantFrom<ExplainOptions['link']>(
          'eth',
          'ip',
          LinkType.sll,
          LinkType.sll2,
          LinkType.null,
          LinkType.ipv6,
          42,
        ),
        fc.boolean(),
        (bytes, link, capture) => {
          const opts: ExplainOptions = capture ? { link, ports, matchSourcePort: true } : { link };
          const full = decodeFrame(bytes, opts);
          const quick = decodeFrame(bytes, { ...opts, detail: 'summary' });
          assert.equal(full.detail, 'full');
          assert.equal(quick.detail, 'summary');
          assert.deepEqual(verdicts(quick), verdicts(full));
          assert.equal(quick.length, full.length);
          assert.equal(quick.linkName, full.linkName);
          // Nothing of the byte view is built: no rows, notes, summary lines or overlay.
          assert.ok(quick.layers.every((l) => l.fields.length === 0 && l.notes.length === 0));
          assert.equal(quick.summary.length, 0);
          assert.equal(quick.overlay, undefined);
        },
      ),
      { numRuns: 4000 },
    );
  });

  it('every seed decodes past its link layer, so the property reaches the deep branches', () => {
    for (const s of seeds()) {
      // The last seed is a raw IPv4 packet; every other one starts with a unicast MAC.
      const quick = decodeFrame(s, { link: s[0] >> 4 === 4 ? 'ip' : 'eth', detail: 'summary' });
      const names = quick.layers.map((l) => l.name).join(' + ');
      assert.ok(quick.layers.length >= 2, names);
      assert.ok(quick.layers[1].info !== undefined, names);
    }
    // A VXLAN frame: the summary walk reaches the inner transport with its values.
    const vx = decodeFrame(seeds()[kernel.records.length + socat.records.length], { detail: 'summary' });
    assert.deepEqual(
      vx.layers.map((l) => `${l.role} ${l.name} ${l.info?.kind ?? '-'}`),
      [
        'outer Ethernet II link',
        'outer IPv4 ipv4',
        'outer UDP udp',
        'outer VXLAN vxlan',
        'inner Ethernet II link',
        'inner IPv4 ipv4',
        'inner ICMP icmp',
        'inner Data -',
      ],
    );
  });

  it('a summary decode cannot be rendered as a byte view, nor grow rows by mistake', () => {
    const f = kernel.records[2].data;
    const quick = decodeFrame(f, { link: kernel.linkType, detail: 'summary' });
    assert.throws(() => renderExplanation(quick, f), TypeError);
    assert.throws(
      () => quick.layers[0].fields.push({ offset: 0, length: 1, name: 'x', value: 'y' }),
      TypeError,
    );
    assert.match(renderExplanation(decodeFrame(f, { link: kernel.linkType }), f), /VNI +1/);
  });

  it('macText writes the same text as bufferToMac (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 12 }), fc.nat(6), (bytes, at) => {
        const off = Math.min(at, bytes.length - 6);
        assert.equal(macText(bytes, off), bufferToMac(bytes, off));
      }),
      { numRuns: 2000 },
    );
    assert.equal(macText(Buffer.from('00ff0a10a0fe', 'hex'), 0), '00:ff:0a:10:a0:fe');
  });
});

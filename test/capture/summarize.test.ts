import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  DEFAULT_PORTS,
  FRAME_KINDS,
  LinkType,
  captureDecodeOptions,
  formatTimestamp,
  summarizeFrame,
} from '../../src/capture/summarize';
import { explainCaptured } from '../../src/capture/explain-adapter';
import { decodeFrame } from '../../src/explain';
import { ipv6ToString as formatIpv6 } from '../../src/net/addr';
import { readPcapFile } from '../../src/pcap/pcap-file';
import {
  UNDERLAY_A_MAC,
  UNDERLAY_B_MAC,
  eth,
  flannelUdpFrame,
  icmpEcho,
  ipv4,
  ipv6,
  ipv6Ext,
  tagged,
  tcp,
  udp,
  vxlanFrame,
  vxlanHdr,
} from '../../src/testing/packets';

const FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures');
const INNER_A = '0e:aa:00:00:00:01';
const INNER_B = '0e:bb:00:00:00:02';

function vxlanIcmp(o: { vni?: number; flags?: number } = {}): Buffer {
  const inner = eth(
    INNER_B,
    INNER_A,
    0x0800,
    ipv4('10.244.0.1', '10.244.1.1', 1, icmpEcho(8, 4, 1), { df: true }),
  );
  return vxlanFrame(inner, o);
}

test('VXLAN ICMP echo request: outer, VNI, inner MACs and inner packet on one line', () => {
  const s = summarizeFrame(vxlanIcmp());
  assert.equal(s.kind, 'vxlan');
  assert.equal(s.vni, 1);
  assert.equal(
    s.text,
    '192.0.2.1:49321 > 192.0.2.2:8472 VXLAN vni 1 | 0e:aa:00:00:00:01 > 0e:bb:00:00:00:02 | 10.244.0.1 > 10.244.1.1 ICMP echo request id 4 seq 1 len 64',
  );
});

test('VXLAN with flags 0x00 is shown as malformed, not decoded', () => {
  const s = summarizeFrame(vxlanIcmp({ flags: 0x00 }));
  assert.equal(s.kind, 'malformed');
  assert.match(s.text, /VXLAN \[malformed: bad VXLAN flags 0x00\]$/);
});

test('VXLAN reserved bits are decoded but flagged (Linux drops such frames)', () => {
  const s = summarizeFrame(vxlanIcmp({ flags: 0x0c }));
  assert.equal(s.kind, 'vxlan');
  assert.match(s.text, /\[reserved bits set: flags 0x0c; Linux drops this frame\]/);
  assert.match(s.text, /ICMP echo request/);
});

test('--vni mismatch is flagged', () => {
  assert.match(
    summarizeFrame(vxlanIcmp({ vni: 7 }), { vni: 1 }).text,
    /VXLAN vni 7 \[vni mismatch: expected 1\]/,
  );
  assert.doesNotMatch(summarizeFrame(vxlanIcmp({ vni: 1 }), { vni: 1 }).text, /mismatch/);
});

test('truncated VXLAN header and inner Ethernet are malformed', () => {
  const short = vxlanFrame(Buffer.alloc(0)).subarray(0, 14 + 20 + 8 + 5);
  // The outer UDP length claims more than present; the decoder uses what is there.
  const s1 = summarizeFrame(short);
  assert.equal(s1.kind, 'malformed');
  assert.match(s1.text, /truncated VXLAN header/);
  const s2 = summarizeFrame(vxlanFrame(Buffer.alloc(6)));
  assert.equal(s2.kind, 'malformed');
  assert.match(s2.text, /truncated inner Ethernet: 6 of 14 bytes/);
});

test('flannel-UDP TCP segments show flags, seq, ack and payload length', () => {
  const syn = summarizeFrame(
    flannelUdpFrame(ipv4('10.244.0.1', '10.244.1.1', 6, tcp(40000, 5201, 1000, 0, 0x02))),
  );
  assert.equal(syn.kind, 'flannel-udp');
  assert.equal(
    syn.text,
    '192.0.2.1:8285 > 192.0.2.2:8285 flannel-UDP | 10.244.0.1:40000 > 10.244.1.1:5201 TCP [S] seq 1000 win 64240 len 0',
  );
  const psh = summarizeFrame(
    flannelUdpFrame(ipv4('10.244.1.1', '10.244.0.1', 6, tcp(5201, 40000, 7, 1001, 0x18, Buffer.alloc(11)))),
  );
  assert.match(psh.text, /TCP \[P\.\] seq 7:18 ack 1001 win 64240 len 11$/);
});

test('inner UDP, ARP and IPv6 are decoded inside VXLAN', () => {
  const u = summarizeFrame(
    vxlanFrame(
      eth(INNER_B, INNER_A, 0x0800, ipv4('10.244.0.1', '10.244.1.1', 17, udp(5000, 53, Buffer.alloc(18)))),
    ),
  );
  assert.match(u.text, /\| 10\.244\.0\.1:5000 > 10\.244\.1\.1:53 UDP len 18$/);

  const arp = Buffer.alloc(28);
  arp.writeUInt16BE(1, 0);
  arp.writeUInt16BE(0x0800, 2);
  arp[4] = 6;
  arp[5] = 4;
  arp.writeUInt16BE(1, 6);
  Buffer.from([10, 244, 0, 0]).copy(arp, 14);
  Buffer.from([10, 244, 1, 0]).copy(arp, 24);
  const a = summarizeFrame(vxlanFrame(eth('ff:ff:ff:ff:ff:ff', INNER_A, 0x0806, arp)));
  assert.match(a.text, /\| ARP who-has 10\.244\.1\.0 tell 10\.244\.0\.0$/);

  const v6 = Buffer.alloc(40 + 8 + 8);
  v6[0] = 0x60;
  v6.writeUInt16BE(16, 4);
  v6[6] = 58;
  v6[7] = 64;
  Buffer.from('fd000000000000000000000000000001', 'hex').copy(v6, 8);
  Buffer.from('fd000000000000000000000000000002', 'hex').copy(v6, 24);
  v6[40] = 128;
  v6.writeUInt16BE(9, 44);
  v6.writeUInt16BE(3, 46);
  const s6 = summarizeFrame(vxlanFrame(eth(INNER_B, INNER_A, 0x86dd, v6)));
  assert.match(s6.text, /\| fd00::1 > fd00::2 ICMP6 echo request id 9 seq 3 len 16$/);
});

test('foreign traffic is [not overlay]; non-first outer fragments are their own kind', () => {
  const dns = summarizeFrame(
    eth(
      '02:00:00:00:00:02',
      '02:00:00:00:00:01',
      0x0800,
      ipv4('192.0.2.1', '192.0.2.2', 17, udp(5353, 53, Buffer.alloc(4))),
    ),
  );
  assert.equal(dns.kind, 'not-overlay');
  assert.equal(dns.text, '[not overlay] 192.0.2.1:5353 > 192.0.2.2:53 UDP len 4');
  const ping = summarizeFrame(
    eth(
      '02:00:00:00:00:02',
      '02:00:00:00:00:01',
      0x0800,
      ipv4('192.0.2.1', '192.0.2.2', 1, icmpEcho(8, 1, 1)),
    ),
  );
  assert.equal(ping.kind, 'not-overlay');
  assert.match(
    ping.text,
    /^\[not overlay\] 192\.0\.2\.1 > 192\.0\.2\.2 ICMP echo request id 1 seq 1 len 64$/,
  );
  const frag = summarizeFrame(
    eth(
      '02:00:00:00:00:02',
      '02:00:00:00:00:01',
      0x0800,
      ipv4('192.0.2.1', '192.0.2.2', 17, Buffer.alloc(100), { fragWord: 172 }),
    ),
  );
  assert.equal(frag.kind, 'fragment');
  assert.match(frag.text, /outer IP fragment id 4660 off 1376 len 120/);
  const first = vxlanIcmp();
  first.writeUInt16BE(0x2000, 14 + 6); // MF on the outer header
  const s = summarizeFrame(first);
  assert.equal(s.kind, 'vxlan');
  assert.match(s.text, /\[outer IP fragmented: id 4660/);
  const cut = Buffer.from(first.subarray(0, first.length - 20));
  assert.match(summarizeFrame(cut).text, /len 64 \[64 of 84 bytes in this fragment\] \[outer IP fragmented/);
});

test('--port with backend auto sniffs VXLAN vs flannel-UDP; raw and SLL link types work', () => {
  const ports = new Map([[9999, 'auto' as const]]);
  assert.equal(summarizeFrame(vxlanIcmp(), { ports }).kind, 'not-overlay');
  const vx = vxlanFrame(
    eth(INNER_B, INNER_A, 0x0800, ipv4('10.244.0.1', '10.244.1.1', 1, icmpEcho(0, 1, 2))),
    { dport: 9999 },
  );
  assert.equal(summarizeFrame(vx, { ports }).kind, 'vxlan');
  const fu = flannelUdpFrame(ipv4('10.244.0.1', '10.244.1.1', 1, icmpEcho(8, 1, 2)), 9999);
  assert.equal(summarizeFrame(fu, { ports }).kind, 'flannel-udp');
  const raw = summarizeFrame(fu.subarray(14), { ports, linkType: LinkType.raw });
  assert.equal(raw.kind, 'flannel-udp');
  const sll = Buffer.concat([Buffer.alloc(16), fu.subarray(14)]);
  sll.writeUInt16BE(0x0800, 14);
  assert.equal(summarizeFrame(sll, { ports, linkType: LinkType.sll }).text, raw.text);
});

test('every prefix of a valid frame summarizes without throwing', () => {
  const f = vxlanFrame(
    eth(INNER_B, INNER_A, 0x0800, ipv4('10.244.0.1', '10.244.1.1', 6, tcp(1, 2, 3, 4, 0x12))),
  );
  for (let n = 0; n <= f.length; n++) {
    const s = summarizeFrame(f.subarray(0, n));
    assert.ok(FRAME_KINDS.includes(s.kind), `prefix ${n}: kind ${s.kind}`);
    assert.equal(typeof s.text, 'string');
  }
  assert.equal(summarizeFrame(Buffer.alloc(0)).kind, 'malformed');
});

test('fuzz: random bytes and mutated frames never throw', () => {
  const base = vxlanIcmp();
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 200 }),
      fc.constantFrom(LinkType.ethernet, LinkType.raw, LinkType.sll, LinkType.sll2, LinkType.null, 42),
      (bytes, linkType) => {
        const s = summarizeFrame(Buffer.from(bytes), { linkType });
        return FRAME_KINDS.includes(s.kind) && typeof s.text === 'string';
      },
    ),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      (edits) => {
        const f = Buffer.from(base);
        for (const [i, v] of edits) f[i] = v;
        const s = summarizeFrame(f);
        return FRAME_KINDS.includes(s.kind);
      },
    ),
    { numRuns: 3000 },
  );
});

test('kernel VXLAN fixture: every overlay frame decodes with VNI 1 and inner 10.244 addresses', () => {
  const pcap = readPcapFile(join(FIXTURES, 'kernel-vxlan-8472.pcap'));
  const sums = pcap.records.map((r) => summarizeFrame(r.data, { linkType: pcap.linkType }));
  const vx = sums.filter((s) => s.kind === 'vxlan');
  assert.ok(vx.length >= 10, `expected >= 10 VXLAN frames, got ${vx.length}`);
  assert.equal(sums.filter((s) => s.kind === 'malformed').length, 0);
  for (const s of vx) {
    assert.equal(s.vni, 1);
    assert.match(
      s.text,
      /^192\.0\.2\.[12]:\d+ > 192\.0\.2\.[12]:8472 VXLAN vni 1 \| ([0-9a-f]{2}:){5}[0-9a-f]{2} > ([0-9a-f]{2}:){5}[0-9a-f]{2} \| 10\.244\.[01]\.1/,
    );
  }
  assert.ok(
    vx.some((s) => /10\.244\.0\.1 > 10\.244\.1\.1 ICMP echo request id \d+ seq 1 len 64$/.test(s.text)),
  );
  assert.ok(
    vx.some((s) => /10\.244\.1\.1 > 10\.244\.0\.1 ICMP echo reply id \d+ seq 1 len 64$/.test(s.text)),
  );
  assert.ok(
    vx.some((s) =>
      / TCP \[S\.\] seq \d+ ack \d+ win \d+ options \[mss 1410,sackOK,TS val \d+ ecr \d+,nop,wscale \d+\] len 0$/.test(
        s.text,
      ),
    ),
  );
  assert.ok(vx.some((s) => / ICMP unreachable port len \d+$/.test(s.text)));
});

test('flannel-UDP fixture: every overlay frame decodes as flannel-UDP', () => {
  const pcap = readPcapFile(join(FIXTURES, 'socat-udp-8285.pcap'));
  const sums = pcap.records.map((r) => summarizeFrame(r.data, { linkType: pcap.linkType }));
  const fu = sums.filter((s) => s.kind === 'flannel-udp');
  assert.ok(fu.length >= 10);
  assert.equal(sums.filter((s) => s.kind === 'malformed').length, 0);
  assert.ok(
    fu.every((s) =>
      /^192\.0\.2\.[12]:8285 > 192\.0\.2\.[12]:8285 flannel-UDP \| 10\.246\.0\.[12]/.test(s.text),
    ),
  );
  assert.ok(fu.some((s) => /ICMP echo request id \d+ seq 1 len 1452$/.test(s.text)));
});

test('formatTimestamp and formatIpv6', () => {
  const micros = new Date(2026, 0, 2, 12, 0, 1).getTime() * 1000 + 123456;
  assert.equal(formatTimestamp(micros), '12:00:01.123456');
  const b = Buffer.from('20010db8000000000000000000000001', 'hex');
  assert.equal(formatIpv6(b, 0), '2001:db8::1');
  assert.equal(formatIpv6(Buffer.alloc(16), 0), '::');
});

test('one decode pass: the line and --explain agree on fuzzed frames, and neither throws', () => {
  const pcap = readPcapFile(join(FIXTURES, 'kernel-vxlan-8472.pcap'));
  const seeds = [vxlanIcmp(), ...pcap.records.map((r) => r.data)];
  const ports = new Map([...DEFAULT_PORTS, [9999, 'auto' as const]]);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 160 }),
        fc
          .tuple(
            fc.constantFrom(...seeds),
            fc.array(fc.tuple(fc.nat(200), fc.nat(255)), { maxLength: 6 }),
            fc.nat(200),
          )
          .map(([seed, edits, cut]) => {
            const b = Buffer.from(seed.subarray(0, Math.max(cut, 1)));
            for (const [p, v] of edits) if (p < b.length) b[p] = v;
            return b;
          }),
      ),
      fc.constantFrom(LinkType.ethernet, LinkType.raw, LinkType.sll, LinkType.sll2, LinkType.null),
      (bytes, linkType) => {
        const frame = Buffer.from(bytes);
        // --explain: one full decode serves the line and the byte view.
        const s = summarizeFrame(frame, { linkType, ports, explain: true });
        assert.ok(FRAME_KINDS.includes(s.kind));
        const ex = s.explanation;
        assert.ok(ex, 'the summary carries the decode it was rendered from');
        assert.equal(ex.detail, 'full');
        // Without --explain the line comes from a summary decode, and is the same line.
        const quick = summarizeFrame(frame, { linkType, ports });
        assert.equal(quick.explanation?.detail, 'summary');
        assert.deepEqual({ ...quick, explanation: undefined }, { ...s, explanation: undefined });
        // --explain renders that same decode: decoding again gives the same view, and a summary
        // decode handed over by mistake is decoded again in full rather than rendered bare.
        const view = explainCaptured(frame, linkType, ports);
        assert.equal(explainCaptured(frame, linkType, ports, '    ', ex), view);
        assert.equal(explainCaptured(frame, linkType, ports, '    ', quick.explanation), view);
        assert.deepEqual(decodeFrame(frame, captureDecodeOptions(linkType, ports)), ex);
        if (s.kind === 'vxlan') {
          assert.equal(ex.overlay?.kind, 'vxlan');
          assert.equal(ex.overlay?.vni, s.vni);
          assert.equal(ex.overlay?.innerOffset, s.innerOffset);
          assert.doesNotMatch(s.text, /\[malformed: (truncated|bad) VXLAN/);
        } else if (s.kind === 'flannel-udp') {
          assert.equal(ex.overlay?.kind, 'udp');
          assert.equal(ex.overlay?.innerOffset, s.innerOffset);
        } else if (s.kind === 'fragment') {
          assert.equal(ex.overlay, undefined);
          assert.ok(ex.layers.some((l) => l.notes.some((n) => /non-first fragment/.test(n.text))));
        }
        // A frame the line calls malformed shows its problem on a layer of the byte view.
        if (s.kind === 'malformed') assert.ok(ex.layers.some((l) => l.problem !== undefined));
      },
    ),
    { numRuns: 3000 },
  );
});

test('--explain decodes --backend auto and source-port matches the way the line does', () => {
  const ports = new Map([[9999, 'auto' as const]]);
  const fu = flannelUdpFrame(ipv4('10.244.0.1', '10.244.1.1', 1, icmpEcho(8, 1, 2)), 9999);
  assert.equal(summarizeFrame(fu, { ports }).kind, 'flannel-udp');
  // The view used to decode every non-udp port as VXLAN, so an auto port showed a bogus VXLAN header.
  const view = explainCaptured(fu, LinkType.ethernet, ports);
  assert.match(view, /^ {4}outer flannel-UDP /m);
  assert.doesNotMatch(view, /VXLAN/);
  const fromVtep = vxlanIcmp();
  fromVtep.writeUInt16BE(8472, 34);
  fromVtep.writeUInt16BE(40000, 36);
  assert.equal(summarizeFrame(fromVtep).kind, 'vxlan');
  assert.match(explainCaptured(fromVtep, LinkType.ethernet, DEFAULT_PORTS), /VNI +1 \(0x000001\)/);
});

test('fixed: outer IPv6 extension headers, QinQ tags and LINKTYPE_IPV4/IPV6 no longer hide the overlay', () => {
  const inner = eth(INNER_B, INNER_A, 0x0800, ipv4('10.244.0.1', '10.244.1.1', 1, icmpEcho(8, 4, 1)));
  const datagram = udp(49321, 8472, Buffer.concat([vxlanHdr(1), inner]));
  const v6 = summarizeFrame(
    eth(UNDERLAY_B_MAC, UNDERLAY_A_MAC, 0x86dd, ipv6(0, Buffer.concat([ipv6Ext(17), datagram]))),
  );
  assert.equal(v6.kind, 'vxlan');
  assert.match(
    v6.text,
    /^\[fd00::1\]:49321 > \[fd00::2\]:8472 VXLAN vni 1 \| .* ICMP echo request id 4 seq 1 len 64$/,
  );
  const qinq = tagged(
    UNDERLAY_B_MAC,
    UNDERLAY_A_MAC,
    [0x88a8, 0x8100],
    0x0800,
    ipv4('192.0.2.1', '192.0.2.2', 17, datagram),
  );
  assert.equal(summarizeFrame(qinq).kind, 'vxlan');
  const innerQinq = vxlanFrame(
    tagged(
      INNER_B,
      INNER_A,
      [0x88a8, 0x8100],
      0x0800,
      ipv4('10.244.0.1', '10.244.1.1', 1, icmpEcho(0, 1, 1)),
    ),
  );
  assert.match(
    summarizeFrame(innerQinq).text,
    / vlan 100 \[inner VLAN tag: RFC 7348 §6\.1 says discard\] \| 10\.244\.0\.1 > 10\.244\.1\.1 ICMP echo reply/,
  );
  const raw = ipv4('192.0.2.1', '192.0.2.2', 17, datagram);
  const rawLine = summarizeFrame(raw, { linkType: LinkType.raw }).text;
  assert.equal(summarizeFrame(raw, { linkType: LinkType.ipv4 }).text, rawLine);
  assert.match(rawLine, /VXLAN vni 1/);
});

test('fixed: header mix-ups are malformed or left undecoded instead of misread', () => {
  // EtherType IPv6 over an IPv4 header: the IPv4 case was already checked, now both are.
  const mixed = vxlanIcmp();
  mixed.writeUInt16BE(0x86dd, 12);
  const s = summarizeFrame(Buffer.concat([mixed, Buffer.alloc(40)]));
  assert.equal(s.kind, 'malformed');
  assert.match(s.text, /^\[malformed: outer IP version 4 in an IPv6 frame\]/);
  // ICMPv6 (58) inside IPv4 is not an ICMPv6 message: shown as a protocol number, as explain does.
  const icmp6in4 = vxlanFrame(
    eth(INNER_B, INNER_A, 0x0800, ipv4('10.244.0.1', '10.244.1.1', 58, icmpEcho(8, 1, 1))),
  );
  assert.match(summarizeFrame(icmp6in4).text, /\| 10\.244\.0\.1 > 10\.244\.1\.1 proto 58 len 84$/);
  // A cut inner 802.1Q tag is a truncated header, not an unknown EtherType 0x8100.
  const cutTag = vxlanFrame(tagged(INNER_B, INNER_A, [0x8100], 0x0800, Buffer.alloc(0)).subarray(0, 16));
  const c = summarizeFrame(cutTag);
  assert.equal(c.kind, 'malformed');
  assert.match(c.text, /\[malformed: truncated 802\.1Q tag: need 4 bytes at 64, have 2\]$/);
});

test('a UDP GSO train captured whole is tagged with its datagram count; one large inner packet is not', () => {
  const innerUdp = (k: number, len: number): Buffer =>
    eth(
      INNER_B,
      INNER_A,
      0x0800,
      ipv4('10.244.0.5', '10.244.1.7', 17, udp(4000, 5001, Buffer.alloc(len, k))),
    );
  // Two 114-byte VXLAN datagrams (8 + 14 + 92) and a 90-byte last one, back to back in one datagram.
  const train = vxlanFrame(
    Buffer.concat([innerUdp(1, 64), vxlanHdr(1), innerUdp(2, 64), vxlanHdr(1), innerUdp(3, 40)]),
  );
  const s = summarizeFrame(train);
  assert.equal(s.kind, 'vxlan');
  assert.match(
    s.text,
    /10\.244\.0\.5:4000 > 10\.244\.1\.7:5001 UDP len 64 \[GSO train: 3 datagrams of 114 bytes, first shown\]$/,
  );

  const fu = (k: number): Buffer =>
    ipv4('10.244.0.5', '10.244.1.7', 17, udp(4000, 5001, Buffer.alloc(100, k)));
  const f = summarizeFrame(flannelUdpFrame(Buffer.concat([fu(1), fu(2)])));
  assert.equal(f.kind, 'flannel-udp');
  assert.match(f.text, /\[GSO train: 2 datagrams of 128 bytes, first shown\]$/);

  // A kernel VTEP's TSO packet crossing veth whole: one VXLAN frame, one large inner packet.
  const big = summarizeFrame(vxlanFrame(innerUdp(4, 3000)));
  assert.equal(big.kind, 'vxlan');
  assert.doesNotMatch(big.text, /GSO train/);
  assert.doesNotMatch(summarizeFrame(vxlanFrame(innerUdp(5, 64))).text, /GSO train/);
});

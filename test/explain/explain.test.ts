import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { explainFrame, explainFrameRows, type Explanation } from '../../src/explain';
import { parseHex } from '../../src/cli/commands/explain';
import { FormatError } from '../../src/errors';
import { udpChecksumIpv6 } from '../../src/wire/udp';
import { fixture, weft, FIXTURES } from '../golden/fixtures';
import {
  eth,
  icmpEcho,
  ipv4,
  ipv6,
  ipv6Ext,
  ipv6Frag,
  tagged,
  udp,
  vxlanFrame,
} from '../../src/testing/packets';

const kernel = fixture('kernel-vxlan-8472.pcap');
const socat = fixture('socat-udp-8285.pcap');

function field(ex: Explanation, layer: string, role: string, name: string): string {
  const l = ex.layers.find((x) => x.name === layer && x.role === role);
  assert.ok(l, `no ${role} ${layer} layer`);
  const f = l.fields.find((x) => x.name === name);
  assert.ok(f, `no field ${name} in ${role} ${layer}`);
  return f.value;
}

describe('explain: kernel VXLAN frame (frame 3, ICMP echo request)', () => {
  const buf = kernel.records[2].data;
  const ex = explainFrameRows(buf, { link: kernel.linkType });
  const text = explainFrame(buf, { link: kernel.linkType });

  it('decodes the whole stack with byte ranges', () => {
    assert.deepEqual(
      ex.layers.map((l) => `${l.role} ${l.name} ${l.offset}+${l.length}`),
      [
        'outer Ethernet II 0+14',
        'outer IPv4 14+20',
        'outer UDP 34+8',
        'outer VXLAN 42+8',
        'inner Ethernet II 50+14',
        'inner IPv4 64+20',
        'inner ICMP 84+8',
        'inner Data 92+56',
      ],
    );
    assert.deepEqual(
      ex.overlay && { kind: ex.overlay.kind, vni: ex.overlay.vni, inner: ex.overlay.innerOffset },
      {
        kind: 'vxlan',
        vni: 1,
        inner: 50,
      },
    );
  });

  it('names the VXLAN fields: VNI 1, I flag set, reserved zero', () => {
    assert.equal(field(ex, 'VXLAN', 'outer', 'VNI'), '1 (0x000001)');
    const flags = ex.layers.find((l) => l.name === 'VXLAN')!.fields[0];
    assert.equal(flags.status, 'ok');
    assert.ok(
      flags.bits!.some((b) => b.name === 'I (VNI valid)' && b.pattern === '.... 1...' && b.value === '1 set'),
    );
    assert.match(text, /^ {4}46 {2}00 00 01 +VNI +1 \(0x000001\) {2}\[RFC 7348 §5\]$/m);
    assert.match(text, /\.\.\.\. 1\.\.\. +I \(VNI valid\) +1 set/);
  });

  it('shows the inner MACs (flannel.1 VTEP addresses) and outer/inner addresses', () => {
    assert.match(field(ex, 'Ethernet II', 'inner', 'destination MAC'), /^0a:f4:01:00:00:01/);
    assert.match(field(ex, 'Ethernet II', 'inner', 'source MAC'), /^0a:f4:00:00:00:01/);
    assert.equal(field(ex, 'IPv4', 'outer', 'source address'), '192.0.2.1');
    assert.equal(field(ex, 'IPv4', 'inner', 'destination address'), '10.244.1.1');
    assert.match(text, /^ {4}50 {2}0a f4 01 00 00 01 +destination MAC +0a:f4:01:00:00:01/m);
  });

  it('verifies checksums and breaks out DF', () => {
    assert.match(field(ex, 'IPv4', 'outer', 'header checksum'), /valid$/);
    assert.match(field(ex, 'UDP', 'outer', 'checksum'), /^0x[0-9a-f]{4} valid/);
    assert.match(field(ex, 'ICMP', 'inner', 'checksum'), /valid/);
    assert.match(
      text,
      /\.0\.\. \.\.\.\. \.\.\.\. \.\.\.\. +DF \(don't fragment\) +0 may fragment/,
      'outer DF clear',
    );
    assert.match(text, /\.1\.\. \.\.\.\. \.\.\.\. \.\.\.\. +DF \(don't fragment\) +1 set/, 'inner DF set');
    assert.match(text, /8472 \(VXLAN, Linux\/flannel default\)/);
  });

  it('ends with the overhead summary', () => {
    assert.match(text, /outer headers 50 bytes: 14 Ethernet \+ 20 IPv4 \+ 8 UDP \+ 8 VXLAN/);
    assert.match(text, /inner frame 98 bytes: 14 Ethernet \+ 84 IP packet \(VNI 1\)/);
    assert.match(text, /leaves 1450 for the overlay/);
    assert.doesNotMatch(text, /\x1b\[/, 'no colour unless asked');
    assert.match(explainFrame(buf, { color: true }), /\x1b\[/, 'colour when asked');
  });

  it('flags a corrupted checksum as INVALID with the computed value', () => {
    const bad = Buffer.from(buf);
    bad[24] ^= 0xff;
    const v = field(explainFrameRows(bad), 'IPv4', 'outer', 'header checksum');
    assert.match(v, /INVALID, computed 0x[0-9a-f]{4}/);
    assert.ok(
      v.includes(buf.readUInt16BE(24).toString(16).padStart(4, '0')),
      'computed = the original value',
    );
  });
});

describe('explain: other fixture frames', () => {
  it('decodes every frame of every fixture without problems', () => {
    for (const name of [
      'kernel-vxlan-8472.pcap',
      'kernel-vxlan-inner.pcap',
      'socat-udp-8285.pcap',
      'socat-udp-inner.pcap',
    ]) {
      const f = fixture(name);
      f.records.forEach((r, i) => {
        const ex = explainFrameRows(r.data, { link: f.linkType });
        const bad = ex.layers.flatMap((l) => [
          ...l.notes.filter((n) => n.level === 'bad').map((n) => n.text),
          ...l.fields.filter((x) => x.status === 'bad').map((x) => `${x.name}: ${x.value}`),
        ]);
        assert.deepEqual(bad, [], `${name} frame ${i + 1}`);
      });
    }
  });

  it('explains ARP, TCP options, ICMP errors with the quoted header, and flannel-UDP', () => {
    const arp = explainFrame(kernel.records[0].data);
    assert.match(arp, /Who has 192\.0\.2\.2\? Tell 192\.0\.2\.1\./);
    const syn = explainFrameRows(kernel.records[12].data);
    assert.match(field(syn, 'TCP', 'inner', 'data offset, flags'), /\[SYN\]/);
    assert.equal(field(syn, 'TCP', 'inner', 'option MSS'), '1410 bytes');
    const unreach = explainFrameRows(kernel.records[24].data);
    assert.equal(field(unreach, 'ICMP', 'inner', 'code'), '3 port unreachable');
    assert.equal(field(unreach, 'UDP', 'quoted', 'destination port'), '7002');
    const fl = explainFrameRows(socat.records[2].data);
    assert.equal(fl.overlay?.kind, 'udp');
    assert.ok(fl.layers.some((l) => l.name === 'ICMP' && l.role === 'inner'));
    assert.match(fl.summary.join('\n'), /outer headers 42 bytes: 14 Ethernet \+ 20 IPv4 \+ 8 UDP/);
    assert.match(fl.summary.join('\n'), /leaves 1472 for the overlay/);
  });

  it('decodes raw IP (link ip) and reports a non-overlay UDP port', () => {
    const inner = fixture('socat-udp-inner.pcap').records.find((r) => r.data[9] === 17)!;
    const ex = explainFrameRows(inner.data, { link: 'ip' });
    assert.equal(ex.layers[0].name, 'IPv4');
    assert.match(ex.summary.join('\n'), /no overlay/);
    assert.ok(ex.layers.some((l) => l.name === 'Data' && /"weft udp datagram\\n"/.test(l.fields[0].value)));
  });
});

describe('explain: IPv6', () => {
  it('decodes an IPv6 UDP datagram and verifies its pseudo-header checksum (RFC 8200 §8.1)', () => {
    const b = Buffer.alloc(40 + 8 + 5);
    b[0] = 0x60;
    b.writeUInt16BE(13, 4);
    b[6] = 17;
    b[7] = 64;
    Buffer.from('fd000000000000000000000000000001', 'hex').copy(b, 8);
    Buffer.from('fd000000000000000000000000000002', 'hex').copy(b, 24);
    b.writeUInt16BE(1234, 40);
    b.writeUInt16BE(53, 42);
    b.writeUInt16BE(13, 44);
    b.write('hello', 48);
    b.writeUInt16BE(udpChecksumIpv6(b, 40, 13, b, 8, 24), 46);
    const ex = explainFrameRows(b, { link: 'ip' });
    assert.equal(field(ex, 'IPv6', 'outer', 'source address'), 'fd00::1');
    assert.match(field(ex, 'UDP', 'outer', 'checksum'), /valid/);
    b[50] ^= 1;
    assert.match(field(explainFrameRows(b, { link: 'ip' }), 'UDP', 'outer', 'checksum'), /INVALID/);
  });
});

describe('explain: layers the capture line needed too (one decoder)', () => {
  const MAC_A = '0e:aa:00:00:00:01';
  const MAC_B = '0e:bb:00:00:00:02';

  it('walks IPv6 extension headers and checks UDP over the upper-layer length (RFC 8200 §8.1)', () => {
    const dgram = udp(1234, 53, Buffer.from('hello'));
    const pkt = ipv6(60, Buffer.concat([ipv6Ext(17), dgram]));
    pkt.writeUInt16BE(udpChecksumIpv6(pkt, 48, dgram.length, pkt, 8, 24), 48 + 6);
    const ex = explainFrameRows(pkt, { link: 'ip' });
    assert.deepEqual(
      ex.layers.map((l) => `${l.name} ${l.offset}+${l.length}`),
      ['IPv6 0+40', 'IPv6 destination options 40+8', 'UDP 48+8', 'Data 56+5'],
    );
    assert.equal(field(ex, 'IPv6 destination options', 'outer', 'next header'), '17 UDP');
    assert.match(field(ex, 'UDP', 'outer', 'checksum'), /valid/);
    assert.equal(field(ex, 'UDP', 'outer', 'length'), '13 bytes (8 header + 5 payload)');
    assert.deepEqual(ex.layers[0].info && { ...ex.layers[0].info, src: undefined, dst: undefined }, {
      kind: 'ipv6',
      src: undefined,
      dst: undefined,
      total: 61,
      present: 61,
      protocol: 17,
      exts: 1,
    });
  });

  it('shows a non-first IPv6 fragment as data, and the first one as decoded', () => {
    const first = explainFrameRows(
      ipv6(44, Buffer.concat([ipv6Frag(17, 0, true, 7), udp(1, 2, Buffer.alloc(4))])),
      { link: 'ip' },
    );
    assert.equal(field(first, 'IPv6 fragment header', 'outer', 'fragment offset, M'), '0 (byte 0), M');
    assert.ok(first.layers.some((l) => l.name === 'UDP'));
    const later = explainFrameRows(ipv6(44, Buffer.concat([ipv6Frag(17, 100, false, 7), Buffer.alloc(16)])), {
      link: 'ip',
    });
    assert.deepEqual(
      later.layers.map((l) => l.name),
      ['IPv6', 'IPv6 fragment header', 'Data'],
    );
    assert.deepEqual(later.layers[0].info?.kind === 'ipv6' && later.layers[0].info.fragment, {
      offset: 800,
      protocol: 17,
    });
  });

  it('decodes Linux cooked v2 (SLL2) and BSD loopback captures like the capture line does', () => {
    const pkt = ipv4('192.0.2.1', '192.0.2.2', 1, icmpEcho(8, 1, 1));
    const sll2 = Buffer.concat([Buffer.alloc(20), pkt]);
    sll2.writeUInt16BE(0x0800, 0);
    const a = explainFrameRows(sll2, { link: 276 });
    assert.equal(a.linkName, 'Linux cooked v2 (SLL2)');
    assert.deepEqual(a.layers.map((l) => l.name).slice(0, 3), ['Linux cooked header v2', 'IPv4', 'ICMP']);
    const loop = explainFrameRows(Buffer.concat([Buffer.from([2, 0, 0, 0]), pkt]), { link: 0 });
    assert.equal(field(loop, 'Loopback header', 'outer', 'address family'), '2 (AF_INET)');
    assert.equal(field(loop, 'IPv4', 'outer', 'destination address'), '192.0.2.2');
  });

  it('skips 802.1Q and QinQ tags, warning about RFC 7348 §6.1 only on the inner frame', () => {
    const innerPkt = ipv4('10.244.0.1', '10.244.1.1', 1, icmpEcho(8, 1, 1));
    const outerTagged = explainFrame(tagged(MAC_B, MAC_A, [0x88a8, 0x8100], 0x0800, innerPkt));
    assert.match(outerTagged, /TPID +0x88a8 \(802\.1ad service tag\)/);
    assert.match(outerTagged, /^IPv4 /m);
    assert.doesNotMatch(outerTagged, /RFC 7348 §6\.1/);
    const innerTagged = explainFrame(vxlanFrame(tagged(MAC_B, MAC_A, [0x8100], 0x0800, innerPkt)));
    assert.match(innerTagged, /RFC 7348 §6\.1: an inner VXLAN frame SHOULD NOT carry an 802\.1Q tag/);
    assert.match(innerTagged, /^inner IPv4 /m);
  });

  it('records values and problems per layer, the data the capture line is built from', () => {
    const ex = explainFrameRows(kernel.records[2].data);
    const udpInfo = ex.layers.find((l) => l.name === 'UDP')?.info;
    assert.deepEqual(udpInfo && { kind: udpInfo.kind, overlay: udpInfo.kind === 'udp' && udpInfo.overlay }, {
      kind: 'udp',
      overlay: 'vxlan',
    });
    assert.ok(ex.layers.every((l) => l.problem === undefined));
    const cut = explainFrameRows(kernel.records[2].data.subarray(0, 60));
    assert.equal(
      cut.layers.find((l) => l.role === 'inner')?.problem,
      'truncated inner Ethernet: 10 of 14 bytes',
    );
    const shortIp = eth(
      MAC_B,
      MAC_A,
      0x0800,
      ipv4('192.0.2.1', '192.0.2.2', 17, udp(1, 2, Buffer.alloc(0))).subarray(0, 10),
    );
    assert.equal(
      explainFrameRows(shortIp).layers[1].problem,
      'truncated outer IPv4 header: need 20 bytes at 14, have 10',
    );
  });
});

describe('explain: broken input never throws', () => {
  it('explains every truncation of a kernel frame, noting where it stops', () => {
    const buf = kernel.records[12].data;
    for (let n = 0; n < buf.length; n++) {
      const ex = explainFrameRows(buf.subarray(0, n));
      assert.ok(
        ex.layers.some((l) => l.notes.some((x) => x.level === 'bad')) ||
          ex.layers.some((l) => l.fields.some((f) => f.status === 'bad')),
        `truncated at ${n}: expected a problem to be reported`,
      );
      assert.equal(typeof explainFrame(buf.subarray(0, n), { color: true }), 'string');
    }
    assert.match(
      explainFrame(buf.subarray(0, 45)),
      /Truncated: reserved needs bytes 43-45 but the frame ends at byte 44/,
    );
  });

  it('survives random and mutated frames (fast-check)', () => {
    const seeds = kernel.records.concat(socat.records).map((r) => r.data);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc
            .tuple(
              fc.constantFrom(...seeds),
              fc.array(fc.tuple(fc.nat(1600), fc.nat(255)), { maxLength: 6 }),
              fc.nat(1600),
            )
            .map(([s, edits, cut]) => {
              const b = Uint8Array.from(s.subarray(0, Math.max(cut, 1)));
              for (const [p, v] of edits) if (p < b.length) b[p] = v;
              return b;
            }),
        ),
        fc.constantFrom<'eth' | 'ip' | number>('eth', 'ip', 113, 999),
        (b, link) => {
          const text = explainFrame(b, { link });
          assert.ok(text.length > 0);
        },
      ),
      { numRuns: 5000 },
    );
  });
});

describe('weft explain CLI', () => {
  it('--pcap FILE --frame N prints the frame with a title', () => {
    const r = weft(['explain', '--pcap', join(FIXTURES, 'kernel-vxlan-8472.pcap'), '--frame', '3'], {
      ...process.env,
      NO_COLOR: '1',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^frame 3 of .*kernel-vxlan-8472\.pcap, Ethernet \(1\)$/m);
    assert.match(r.stdout, /VNI +1 \(0x000001\)/);
    assert.doesNotMatch(r.stdout, /\x1b\[/, 'piped output has no colour');
  });

  it('takes hex on the command line, raw IP with --link ip, and --port for other VXLAN ports', () => {
    const hex = kernel.records[2].data.toString('hex');
    const r = weft(['explain', hex.slice(0, 28), hex.slice(28)]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /VNI +1/);
    const ip = weft(['explain', '--link', 'ip', hex.slice(28)]);
    assert.match(ip.stdout, /^outer IPv4 /m);
    // The same frame with destination port 9999: VXLAN only when --port says so.
    const moved = Buffer.from(kernel.records[2].data);
    moved.writeUInt16BE(9999, 36);
    moved[40] = 0; // checksum "none", so the frame stays valid
    moved[41] = 0;
    assert.doesNotMatch(weft(['explain', moved.toString('hex')]).stdout, /VNI/);
    assert.match(weft(['explain', moved.toString('hex'), '--port', '9999']).stdout, /VNI +1/);
  });

  it('explains garbage without failing, and rejects non-hex and bad flags', () => {
    const g = weft(['explain', 'ffff']);
    assert.equal(g.status, 0);
    assert.match(g.stdout, /Truncated/);
    const bad = weft(['explain', 'xyz']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /not hex.*WEFT_ERR_FORMAT/);
    assert.equal(weft(['explain', '--pcap', join(FIXTURES, 'kernel-vxlan-8472.pcap')]).status, 2);
    assert.equal(
      weft(['explain', '--pcap', join(FIXTURES, 'kernel-vxlan-8472.pcap'), '--frame', '99']).status,
      2,
    );
    assert.equal(weft(['explain', '--bogus', '1']).status, 2);
  });

  it('parseHex accepts Wireshark-style and 0x input', () => {
    assert.deepEqual([...parseHex('0x45 00:01\n02')], [0x45, 0x00, 0x01, 0x02]);
    assert.throws(() => parseHex('abc'), FormatError);
    assert.throws(() => parseHex(''), FormatError);
  });
});

/**
 * Golden tests against frames the Linux kernel produced (test/fixtures, made by
 * make-kernel-vxlan.sh): our decap must reproduce the kernel's inner frames exactly, and our encap
 * must produce the kernel's underlay frames except for the fields that legitimately differ.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DropReason, resetIpId } from '../../src/encap';
import { decapPcap } from '../../src/pcap/decap';
import { encapPcap } from '../../src/pcap/encap';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, readPcapFile, type PcapFile } from '../../src/pcap/pcap-file';
import { fixture, tempDir, tshark, tsharkProblems, weft, FIXTURES } from './fixtures';

/**
 * Byte offsets (in an untagged Ethernet + IPv4 underlay frame) that may differ between the
 * kernel's VXLAN frames and ours, and why. Everything else must be identical.
 */
const VXLAN_ALLOWED: Record<number, string> = {
  18: 'outer IP identification (kernel: per-destination ip_idents hash; weft: a counter)',
  19: 'outer IP identification',
  24: 'outer IP header checksum (follows the identification)',
  25: 'outer IP header checksum',
  34: 'outer UDP source port (kernel: skb flow hash in ip_local_port_range; weft: MurmurHash3 in 49152-65535)',
  35: 'outer UDP source port',
  40: 'outer UDP checksum (follows the source port)',
  41: 'outer UDP checksum',
};

/**
 * For flannel-UDP against socat: socat forwards the packet untouched while flannel's proxy (and
 * weft) decrement the inner TTL. The outer UDP checksum does not change: the inner header
 * checksum update compensates the TTL word exactly, so the payload's ones'-complement sum is equal.
 */
const UDP_ALLOWED: Record<number, string> = {
  18: 'outer IP identification (socket ip_idents vs weft counter)',
  19: 'outer IP identification',
  24: 'outer IP header checksum (follows the identification)',
  25: 'outer IP header checksum',
  50: 'inner TTL (flannel-UDP decrements it; socat does not)',
  52: 'inner IP header checksum (follows the TTL, RFC 1624)',
  53: 'inner IP header checksum',
};

/** matchByContent pairs each of `ours` with an unused identical frame of `theirs`; returns indexes. */
function matchByContent(ours: Buffer[], theirs: Buffer[]): number[] {
  const used = new Set<number>();
  return ours.map((o, i) => {
    const j = theirs.findIndex((t, k) => !used.has(k) && t.equals(o));
    assert.ok(j >= 0, `our frame ${i} (${o.length} bytes) has no identical kernel frame`);
    used.add(j);
    return j;
  });
}

/** diffOffsets lists the offsets where a and b differ (lengths must be equal). */
function diffOffsets(a: Buffer, b: Buffer): number[] {
  assert.equal(a.length, b.length, 'frame lengths differ');
  const d: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) d.push(i);
  return d;
}

/** single wraps one record as a file, for per-direction encap. */
function single(f: PcapFile, i: number): PcapFile {
  return { ...f, records: [f.records[i]] };
}

function compareEncap(
  underlay: PcapFile,
  inner: PcapFile,
  backend: 'vxlan' | 'udp',
  allowed: Record<number, string>,
): Set<number> {
  const dec = decapPcap(underlay, { backend });
  const innerIdx = matchByContent(
    dec.records.map((r) => r.data),
    inner.records.map((r) => r.data),
  );
  const seen = new Set<number>();
  dec.sourceIndex.forEach((src, k) => {
    const kernel = underlay.records[src].data;
    const out = encapPcap(single(inner, innerIdx[k]), {
      backend,
      localIp: kernel.readUInt32BE(26),
      remoteIp: kernel.readUInt32BE(30),
    });
    assert.equal(out.records.length, 1, `frame ${src + 1} was not encapsulated`);
    const ours = out.records[0].data;
    for (const off of diffOffsets(ours, kernel)) {
      assert.ok(
        off in allowed,
        `frame ${src + 1}: byte ${off} differs (ours ${ours[off]}, kernel ${kernel[off]})`,
      );
      seen.add(off);
    }
  });
  return seen;
}

describe('kernel VXLAN golden frames (kernel-vxlan-8472.pcap)', () => {
  const underlay = fixture('kernel-vxlan-8472.pcap');
  const inner = fixture('kernel-vxlan-inner.pcap');

  it('the fixture holds what the README says', () => {
    assert.equal(underlay.linkType, LINKTYPE_ETHERNET);
    assert.equal(underlay.records.length, 25);
    assert.equal(inner.records.length, 23);
  });

  it('our decap reproduces every inner frame the kernel delivered on flannel.1, byte for byte', () => {
    const dec = decapPcap(underlay, { backend: 'vxlan' });
    assert.equal(dec.linkType, LINKTYPE_ETHERNET);
    assert.equal(dec.notIpv4, 2, 'the two underlay ARP frames are not overlay traffic');
    assert.equal(
      dec.drops.reduce((s, n) => s + n, 0),
      0,
      'no overlay frame dropped',
    );
    assert.equal(dec.records.length, inner.records.length);
    const idx = matchByContent(
      dec.records.map((r) => r.data),
      inner.records.map((r) => r.data),
    );
    assert.equal(new Set(idx).size, inner.records.length, 'every kernel inner frame is reproduced once');
  });

  it('our encap of the kernel inner frames equals the kernel underlay frames except the listed fields', () => {
    resetIpId(0);
    const seen = compareEncap(underlay, inner, 'vxlan', VXLAN_ALLOWED);
    // The kernel's ID and hashed port are practically never equal to ours: the list is not stale.
    for (const off of [18, 19, 34, 35]) assert.ok(seen.has(off), `expected byte ${off} to differ somewhere`);
  });

  it('decap with the wrong VNI, port or VTEP MAC counts every overlay frame under its reason', () => {
    const n = 23;
    assert.equal(decapPcap(underlay, { backend: 'vxlan', vni: 2 }).drops[DropReason.badVni], n);
    assert.equal(decapPcap(underlay, { backend: 'vxlan', port: 4789 }).drops[DropReason.wrongPort], n);
    const mac = Buffer.from('0af401000001', 'hex');
    const one = decapPcap(underlay, { backend: 'vxlan', localMac: mac });
    assert.equal(one.records.length + one.drops[DropReason.badInnerDstMac], n);
    assert.ok(one.records.length > 0 && one.records.every((r) => r.data.subarray(0, 6).equals(mac)));
    const udp = decapPcap(underlay, { backend: 'udp' });
    assert.equal(udp.drops[DropReason.wrongPort], n, 'VXLAN frames are not flannel-UDP frames');
  });

  it('decap drops a frame whose non-zero outer UDP checksum is wrong (RFC 7348 §5)', () => {
    const rec = underlay.records[2];
    const bad = Buffer.from(rec.data);
    bad[41] ^= 0x01;
    const res = decapPcap({ ...underlay, records: [{ ...rec, data: bad }] }, { backend: 'vxlan' });
    assert.equal(res.records.length, 0);
    assert.equal(res.drops[DropReason.badUdpChecksum], 1);
    const zero = Buffer.from(rec.data);
    zero[40] = 0;
    zero[41] = 0;
    const ok = decapPcap({ ...underlay, records: [{ ...rec, data: zero }] }, { backend: 'vxlan' });
    assert.equal(ok.records.length, 1, 'a zero checksum means "none" over IPv4 and is accepted');
  });
});

describe('flannel-UDP golden frames (socat-udp-8285.pcap)', () => {
  const underlay = fixture('socat-udp-8285.pcap');
  const inner = fixture('socat-udp-inner.pcap');

  it('our decap reproduces every IP packet socat read from its TUN device', () => {
    assert.equal(inner.linkType, LINKTYPE_RAW);
    const dec = decapPcap(underlay, { backend: 'udp' });
    assert.equal(dec.linkType, LINKTYPE_RAW);
    assert.equal(dec.notIpv4, 2);
    assert.equal(dec.records.length, inner.records.length);
    matchByContent(
      dec.records.map((r) => r.data),
      inner.records.map((r) => r.data),
    );
  });

  it('our encap equals socat frames except the listed fields', () => {
    resetIpId(0);
    const seen = compareEncap(underlay, inner, 'udp', UDP_ALLOWED);
    assert.ok(seen.has(50), 'the inner TTL differs (flannel decrements it)');
    assert.ok(!seen.has(40) && !seen.has(41), 'the outer UDP checksum is identical');
  });
});

describe('weft pcap CLI on the kernel capture', () => {
  const { dir, cleanup } = tempDir();
  after(cleanup);
  const kernel = join(FIXTURES, 'kernel-vxlan-8472.pcap');

  it('decap writes the kernel inner frames and reports skipped frames on stderr', () => {
    const out = join(dir, 'inner.pcap');
    const r = weft(['pcap', 'decap', kernel, out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /25 frames read .* 23 inner frames written .* 2 skipped/);
    assert.match(r.stderr, /not_ipv4: 2/);
    const got = readPcapFile(out);
    const want = fixture('kernel-vxlan-inner.pcap');
    matchByContent(
      got.records.map((x) => x.data),
      want.records.map((x) => x.data),
    );
    assert.deepEqual(tsharkProblems(out), []);
  });

  it('decap -> encap round trip per direction reproduces the kernel frames except the listed fields', () => {
    const original = fixture('kernel-vxlan-8472.pcap');
    const directions = [
      { vtep: '0a:f4:01:00:00:01', local: '192.0.2.1', remote: '192.0.2.2' },
      { vtep: '0a:f4:00:00:00:01', local: '192.0.2.2', remote: '192.0.2.1' },
    ];
    let total = 0;
    for (const d of directions) {
      const mid = join(dir, `mid-${d.local}.pcap`);
      const out = join(dir, `out-${d.local}.pcap`);
      const r1 = weft(['pcap', 'decap', kernel, mid, '--local-mac', d.vtep]);
      assert.equal(r1.status, 0, r1.stderr);
      assert.match(r1.stderr, /bad_inner_dst_mac: \d+/, 'the other direction is counted, not written');
      const r2 = weft(['pcap', 'encap', mid, out, '--local-ip', d.local, '--remote-ip', d.remote]);
      assert.equal(r2.status, 0, r2.stderr);
      const got = readPcapFile(out).records.map((x) => x.data);
      const want = original.records
        .map((x) => x.data)
        .filter((b) => b.length > 42 && b.subarray(26, 30).join('.') === d.local);
      assert.equal(got.length, want.length);
      got.forEach((g, i) => {
        for (const off of diffOffsets(g, want[i])) assert.ok(off in VXLAN_ALLOWED, `byte ${off} differs`);
      });
      assert.deepEqual(tsharkProblems(out), [], `tshark flags problems in ${out}`);
      total += got.length;
    }
    assert.equal(total, 23);
  });

  it('encap output opens cleanly in tshark: VXLAN VNI 1, all checksums good', () => {
    const out = join(dir, 'enc.pcap');
    const r = weft(['pcap', 'encap', join(FIXTURES, 'kernel-vxlan-inner.pcap'), out, '--local-ip', '192.0.2.1', '--remote-ip', '192.0.2.2']); // prettier-ignore
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(tsharkProblems(out), []);
    const rows =
      tshark(['-r', out, '-T', 'fields', '-e', 'vxlan.vni', '-e', 'vxlan.flags', '-e', 'ip.checksum.status', '-e', 'udp.checksum.status']) // prettier-ignore
        .trim()
        .split('\n');
    assert.equal(rows.length, 23);
    for (const row of rows) {
      const [vni, flags, ipStatus, udpStatus] = row.split('\t');
      assert.equal(vni, '1', row);
      assert.equal(flags, '0x0800', row); // tshark shows the first 16 bits: I flag set
      // Status 1 = good; outer and inner headers are listed comma-separated.
      assert.ok(
        ipStatus.split(',').every((s) => s === '1'),
        `IP checksums: ${row}`,
      );
      assert.ok(
        udpStatus.split(',').every((s) => s === '1'),
        `UDP checksums: ${row}`,
      );
    }
  });

  it('flannel-UDP encap and decap of the socat capture open cleanly in tshark', () => {
    const dec = join(dir, 'udp-inner.pcap');
    const enc = join(dir, 'udp-enc.pcap');
    const r1 = weft(['pcap', 'decap', join(FIXTURES, 'socat-udp-8285.pcap'), dec, '--backend', 'udp']);
    assert.equal(r1.status, 0, r1.stderr);
    assert.equal(readPcapFile(dec).linkType, LINKTYPE_RAW);
    const r2 = weft(['pcap', 'encap', dec, enc, '--backend', 'udp', '--local-ip', '192.0.2.1', '--remote-ip', '192.0.2.2']); // prettier-ignore
    assert.equal(r2.status, 0, r2.stderr);
    assert.deepEqual(tsharkProblems(dec), []);
    assert.deepEqual(tsharkProblems(enc), []);
    const ports = tshark(['-r', enc, '-T', 'fields', '-e', 'udp.dstport']).trim().split('\n');
    assert.ok(ports.length === 23 && ports.every((p) => p.startsWith('8285')), ports.join(' '));
  });

  it('rejects bad usage and corrupt files with clear errors', () => {
    const out = join(dir, 'x.pcap');
    const u = weft(['pcap', 'encap', kernel, out]);
    assert.equal(u.status, 2);
    assert.match(u.stderr, /--local-ip and --remote-ip/);
    const m = weft(['pcap', 'frobnicate', kernel, out]);
    assert.equal(m.status, 2);
    const c = weft(['pcap', 'decap', join(FIXTURES, 'make-kernel-vxlan.sh'), out]);
    assert.equal(c.status, 1);
    assert.match(c.stderr, /unknown magic.*WEFT_ERR_FORMAT/);
    const v = weft(['pcap', 'decap', kernel, out, '--vni', '99999999']);
    assert.equal(v.status, 2, 'a bad flag value is a bad command line');
    assert.match(v.stderr, /--vni/);
  });
});

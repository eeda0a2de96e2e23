/**
 * Golden tests against a capture taken the way an operator takes one: `tcpdump -w` on a node's
 * underlay at the kernel's default offloads (test/fixtures/kernel-vxlan-offload-*, made by
 * make-kernel-vxlan.sh scenario C). The node's frames were captured before checksum offload
 * filled in the outer UDP checksum, so they hold partial checksums; decap must still reproduce the
 * kernel's inner frames byte for byte, and say what it saw.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DropReason } from '../../src/encap';
import { decapPcap } from '../../src/pcap/decap';
import { LINKTYPE_ETHERNET, readPcapFile } from '../../src/pcap/pcap-file';
import { readCaptureFile } from '../../src/pcap/read-capture';
import { ipv4ToU32 } from '../../src/net/addr';
import { FIXTURES, tempDir, tsharkProblems, weft } from './fixtures';

const UNDERLAY = join(FIXTURES, 'kernel-vxlan-offload-8472.pcap');
const UNDERLAY_NG = join(FIXTURES, 'kernel-vxlan-offload-8472.pcapng');
const INNER_NG = join(FIXTURES, 'kernel-vxlan-offload-inner.pcapng');

/** sameFrames asserts that `got` and `want` hold the same frames, each used once (order may differ). */
function sameFrames(got: Buffer[], want: Buffer[]): void {
  assert.equal(got.length, want.length);
  const used = new Set<number>();
  got.forEach((g, i) => {
    const j = want.findIndex((w, k) => !used.has(k) && w.equals(g));
    assert.ok(j >= 0, `frame ${i} (${g.length} bytes) has no identical kernel frame`);
    used.add(j);
  });
}

describe('capture at default offloads on the sending node (kernel-vxlan-offload-8472.pcap)', () => {
  const underlay = readCaptureFile(UNDERLAY);
  const inner = readCaptureFile(INNER_NG);

  it('the fixture is what the README says: 23 VXLAN frames, none with a correct outer UDP checksum', () => {
    assert.equal(underlay.linkType, LINKTYPE_ETHERNET);
    assert.equal(underlay.records.length, 25);
    assert.equal(inner.records.length, 23);
    // The failure this fixture was made for: RFC 7348's strict rule rejects every frame.
    const strict = decapPcap(underlay, { backend: 'vxlan', checksum: 'strict' });
    assert.equal(strict.records.length, 0);
    assert.equal(strict.drops[DropReason.badUdpChecksum], 23);
    assert.equal(strict.checksums.ok, 0);
  });

  it('decap reproduces every inner frame the kernel had on flannel.1, byte for byte', () => {
    const dec = decapPcap(underlay, { backend: 'vxlan' });
    assert.equal(dec.notIpv4, 2);
    assert.equal(
      dec.drops.reduce((s, n) => s + n, 0),
      0,
      'no overlay frame dropped',
    );
    sameFrames(
      dec.records.map((r) => r.data),
      inner.records.map((r) => r.data),
    );
  });

  it('marks every outer checksum partial (pseudo-header sum, or correct once the inner one is completed)', () => {
    const dec = decapPcap(underlay, { backend: 'vxlan' });
    assert.equal(dec.checksums.partial, 23);
    // Both kinds are there: ICMP inner packets leave the outer field at the pseudo-header sum; TCP/UDP
    // inner packets are themselves partial and the kernel computed the outer checksum as if they were not.
    const pseudoOnly = underlay.records.filter(
      (r) => r.data.length > 42 && r.data[40] === 0x84 && r.data[41] === 0x87,
    );
    assert.ok(pseudoOnly.length > 0 && pseudoOnly.length < 23, `${pseudoOnly.length} pseudo-header-only`);
    assert.equal(dec.checksums.bad + dec.checksums.offload, 0);
    // On veth the peer's frames arrive with the same unfinished checksum, so both are senders of partials.
    assert.deepEqual(dec.localAddresses.sort(), ['192.0.2.1', '192.0.2.2']);
  });

  it('a wrong checksum is bad and dropped, unless its sender is local: then bad, probably offload', () => {
    const rec = underlay.records[2];
    const data = Buffer.from(rec.data);
    data[41] ^= 0x01; // neither correct nor the pseudo-header sum any more
    const alone = decapPcap({ ...underlay, records: [{ ...rec, data }] }, { backend: 'vxlan' });
    assert.equal(alone.checksums.bad, 1);
    assert.equal(alone.records.length, 0);
    assert.equal(alone.drops[DropReason.badUdpChecksum], 1);
    const src = ipv4ToU32(data.subarray(26, 30).join('.'));
    const given = decapPcap(
      { ...underlay, records: [{ ...rec, data }] },
      { backend: 'vxlan', localAddresses: [src] },
    );
    assert.equal(given.checksums.offload, 1);
    assert.equal(given.records.length, 1);
    // In the whole file the sender sent partial checksums, so it is local without being told.
    const inFile = decapPcap(
      { ...underlay, records: [...underlay.records, { ...rec, data }] },
      { backend: 'vxlan' },
    );
    assert.equal(inFile.checksums.offload, 1);
    const off = decapPcap(
      { ...underlay, records: [{ ...rec, data }] },
      { backend: 'vxlan', checksum: 'off' },
    );
    assert.equal(off.records.length, 1);
  });

  it('the dumpcap pcapng of the same underlay holds the same frames as the tcpdump pcap', () => {
    const ng = readCaptureFile(UNDERLAY_NG);
    assert.equal(ng.linkType, LINKTYPE_ETHERNET);
    sameFrames(
      ng.records.map((r) => r.data),
      underlay.records.map((r) => r.data),
    );
    // Same packets, two capture processes: timestamps agree to well under a second.
    assert.ok(Math.abs(ng.records[0].tsSec - underlay.records[0].tsSec) <= 1);
  });
});

describe('weft pcap decap CLI on the default-offload capture', () => {
  const { dir, cleanup } = tempDir();
  after(cleanup);

  for (const input of [UNDERLAY, UNDERLAY_NG]) {
    it(`writes all 23 inner frames from ${input.endsWith('ng') ? 'pcapng' : 'pcap'} and reports checksum states`, () => {
      const out = join(dir, `inner-${input.endsWith('ng') ? 'ng' : 'p'}.pcap`);
      const r = weft(['pcap', 'decap', input, out]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /25 frames read .* 23 inner frames written .* 2 skipped/);
      assert.match(r.stderr, /outer UDP checksum: 23 partial \(left for checksum offload/);
      assert.match(r.stderr, /local addresses .*192\.0\.2\.1, 192\.0\.2\.2/);
      sameFrames(
        readPcapFile(out).records.map((x) => x.data),
        readCaptureFile(INNER_NG).records.map((x) => x.data),
      );
      // The inner checksums are partial too (the kernel's own flannel.1 capture has the same bytes):
      // tshark, checking checksums, flags exactly what it flags in the kernel's file.
      const strip = (l: string): string => l.replace(/^\s*\d+\s+[\d.]+\s+/, '');
      assert.deepEqual(tsharkProblems(out).map(strip), tsharkProblems(INNER_NG).map(strip));
    });
  }

  it('--checksum strict keeps RFC 7348 rejection', () => {
    const r = weft(['pcap', 'decap', UNDERLAY, join(dir, 'strict.pcap'), '--checksum', 'strict']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /0 inner frames written/);
    assert.match(r.stderr, /bad_udp_checksum: 23/);
  });

  it('rejects a bad --checksum value naming the flag', () => {
    const r = weft(['pcap', 'decap', UNDERLAY, join(dir, 'x.pcap'), '--checksum', 'lax']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--checksum.*offload, strict or off/);
  });
});

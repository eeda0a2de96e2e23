/**
 * `weft capture -r FILE`: the one-line view over saved captures written by the real tools (the
 * scenario C fixtures: tcpdump -w classic pcap and dumpcap pcapng, test/fixtures/README.md), with
 * the BPF filter compiled by libpcap exactly as tcpdump compiles it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseCaptureArgs } from '../../src/cli/commands/capture';
import { UsageError } from '../../src/errors';
import { FIXTURES, weft } from '../golden/fixtures';

const PCAP = join(FIXTURES, 'kernel-vxlan-offload-8472.pcap');
const PCAPNG = join(FIXTURES, 'kernel-vxlan-offload-8472.pcapng');

/** tcpdumpCount is how many records `tcpdump -r FILE EXPR` prints. */
function tcpdumpCount(file: string, expr: string): number {
  const r = spawnSync('tcpdump', ['-nn', '-r', file, expr], { encoding: 'utf8' });
  if (r.error) throw new Error(`tcpdump could not run (apt-get install tcpdump): ${r.error.message}`);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => /^\d\d:/.test(l)).length;
}

describe('weft capture -r', () => {
  for (const file of [PCAP, PCAPNG]) {
    it(`reads ${file.endsWith('ng') ? 'dumpcap pcapng' : 'tcpdump -w pcap'}: one line per overlay frame, ARP filtered out`, () => {
      const r = weft(['capture', '-r', file]);
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.length, 23);
      assert.ok(
        lines.every((l) =>
          /^\d\d:\d\d:\d\d\.\d{6} 192\.0\.2\.[12]:\d+ > 192\.0\.2\.[12]:8472 VXLAN vni 1 \| /.test(l),
        ),
      );
      assert.match(
        r.stdout,
        /TCP \[S\] seq \d+ win 64860 options \[mss 1410,sackOK,TS val \d+ ecr 0,nop,wscale \d+\] len 0/,
      );
      assert.match(r.stdout, /TCP \[P\.\] seq 1:12 ack 1 win \d+ .* len 11/);
      assert.match(r.stdout, /ICMP echo request id \d+ seq 1 len 64 \[udp cksum partial: offload/);
      // Both senders sent partial checksums, so they are local: no plain "bad".
      assert.doesNotMatch(r.stdout, /\[bad udp cksum\]/);
      assert.match(
        r.stderr,
        /25 records \(Ethernet \(1\)\), 23 matched .* \(vxlan 23\), malformed 0, outer udp cksum: 23 partial \(offload\)$/m,
      );
    });
  }

  it('the record timestamps are the capture times, to the microsecond', () => {
    const r = weft(['capture', '-r', PCAP, '-c', '1']);
    const ts = spawnSync('tcpdump', ['-nn', '-r', PCAP, '-c', '1', 'udp'], { encoding: 'utf8' }).stdout.slice(
      0,
      15,
    );
    assert.equal(r.stdout.slice(0, 15), ts);
  });

  it('-f is ANDed with the port filter and means what it means to tcpdump', () => {
    const expr = 'src host 192.0.2.2';
    const want = tcpdumpCount(
      PCAP,
      `(udp port 8472 or udp port 8285 or (ip and ip[6:2] & 0x1fff != 0)) and (${expr})`,
    );
    assert.ok(want > 0 && want < 23);
    const r = weft(['capture', '-r', PCAPNG, '-f', expr]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, want);
    assert.ok(lines.every((l) => / 192\.0\.2\.2:\d+ > 192\.0\.2\.1:8472 /.test(l)));
  });

  it('--all lists the ARP frames as [not overlay]; -c stops early', () => {
    const all = weft(['capture', '-r', PCAP, '--all']);
    assert.equal(all.stdout.trim().split('\n').length, 25);
    assert.match(all.stdout, /\[not overlay\] ARP who-has 192\.0\.2\.2 tell 192\.0\.2\.1/);
    assert.equal(weft(['capture', '-r', PCAP, '-c', '3']).stdout.trim().split('\n').length, 3);
  });

  it('--explain prints the byte view under each line', () => {
    const r = weft(['capture', '-r', PCAP, '-c', '1', '--explain']);
    assert.match(r.stdout, /checksum\s+0x8487 partial: left for checksum offload/);
  });

  it('a bad filter is an error naming -f; -r with -i or -w is a usage error', () => {
    const r = weft(['capture', '-r', PCAP, '-f', 'udp port banana']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /-f: is not a valid pcap-filter\(7\) expression/);
    assert.throws(() => parseCaptureArgs(['-r', PCAP, '-i', 'eth0']), UsageError);
    assert.throws(() => parseCaptureArgs(['-r', PCAP, '-w', 'x.pcap']), UsageError);
  });
});

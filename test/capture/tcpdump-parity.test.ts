/**
 * The one-line view carries what tcpdump's lines carry that operators rely on: TCP options (MSS
 * first), relative sequence numbers and the ICMP length. Checked against tcpdump itself, reading
 * the kernel's inner frames of the default-offload fixture (test/fixtures/README.md, scenario C),
 * while weft reads the underlay capture of the same traffic. Needs tcpdump (CI installs it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { summarizeFrame } from '../../src/capture/summarize';
import { TcpSeqTracker } from '../../src/capture/tcp-seq';
import { readCaptureFile } from '../../src/pcap/read-capture';
import { FIXTURES } from '../golden/fixtures';

/** tcpdumpLines runs `tcpdump -nn -r FILE` and returns its lines. */
function tcpdumpLines(file: string): string[] {
  const r = spawnSync('tcpdump', ['-nn', '-r', file], { encoding: 'utf8' });
  if (r.error) throw new Error(`tcpdump could not run (apt-get install tcpdump): ${r.error.message}`);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

/** A TCP or ICMP line reduced to the fields both tools print; seq is absent where tcpdump omits it. */
function fromTcpdump(line: string): string | undefined {
  const t = line.match(
    /IP (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[(\S*)\], (?:seq (\S+), )?(?:ack (\d+), )?win (\d+), (?:options \[(.*)\], )?length (\d+)/,
  );
  if (t)
    return `${t[1]}:${t[2]}>${t[3]}:${t[4]} [${t[5]}] seq ${t[6] ?? '-'} ack ${t[7] ?? '-'} win ${t[8]} opt ${t[9] ?? '-'} len ${t[10]}`;
  const i = line.match(/IP (\S+) > (\S+): ICMP (echo request|echo reply), id (\d+), seq (\d+), length (\d+)/);
  if (i) return `${i[1]}>${i[2]} ${i[3]} id ${i[4]} seq ${i[5]} len ${i[6]}`;
  return undefined;
}

function fromWeft(line: string, withSeq: boolean): string | undefined {
  const t = line.match(
    /\| (\S+) > (\S+) TCP \[(\S*)\] seq (\S+)(?: ack (\d+))? win (\d+)(?: options \[(.*)\])? len (\d+)/,
  );
  if (t)
    return `${t[1]}>${t[2]} [${t[3]}] seq ${withSeq ? t[4] : '-'} ack ${t[5] ?? '-'} win ${t[6]} opt ${t[7] ?? '-'} len ${t[8]}`;
  const i = line.match(/\| (\S+) > (\S+) ICMP (echo request|echo reply) id (\d+) seq (\d+) len (\d+)/);
  if (i) return `${i[1]}>${i[2]} ${i[3]} id ${i[4]} seq ${i[5]} len ${i[6]}`;
  return undefined;
}

test('weft capture lines match tcpdump on TCP options, relative seq/ack, window and ICMP length', () => {
  const want = tcpdumpLines(join(FIXTURES, 'kernel-vxlan-offload-inner.pcapng'))
    .map(fromTcpdump)
    .filter((x): x is string => x !== undefined);
  assert.ok(want.length >= 15, `tcpdump gave ${want.length} TCP/ICMP lines`);
  const underlay = readCaptureFile(join(FIXTURES, 'kernel-vxlan-offload-8472.pcap'));
  const tcpSeq = new TcpSeqTracker();
  const lines = underlay.records.map(
    (r) => summarizeFrame(r.data, { linkType: underlay.linkType, tcpSeq }).text,
  );
  const got = new Set(lines.map((l) => fromWeft(l, true)));
  const gotNoSeq = new Set(lines.map((l) => fromWeft(l, false)));
  for (const w of want) {
    const noSeq = w.includes(' seq - ');
    assert.ok(
      (noSeq ? gotNoSeq : got).has(w),
      `tcpdump's ${w} is not among weft's lines:\n${lines.join('\n')}`,
    );
  }
  // The things the comparison is about are really there.
  assert.ok(
    want.some((w) => /opt mss 1410,sackOK/.test(w)),
    'MSS in the SYN',
  );
  assert.ok(
    want.some((w) => /seq 1:\d+ ack 1 /.test(w)),
    'relative numbers on the data segment',
  );
  assert.ok(
    want.some((w) => /echo request .* len 64$/.test(w)),
    'ICMP length',
  );
});

test('without a tracker the numbers stay absolute; the tracker prints SYN and SYN-ACK absolute, then relative', () => {
  const t = new TcpSeqTracker();
  assert.deepEqual(t.relative('a:1', 'b:2', 1000, 0, true, false), { seq: 1000, ack: 0, relative: false });
  assert.deepEqual(t.relative('b:2', 'a:1', 5000, 1001, true, true), {
    seq: 5000,
    ack: 1001,
    relative: false,
  });
  assert.deepEqual(t.relative('a:1', 'b:2', 1001, 5001, false, true), { seq: 1, ack: 1, relative: true });
  assert.deepEqual(t.relative('b:2', 'a:1', 5001, 1012, false, true), { seq: 1, ack: 12, relative: true });
  // Wrap-around stays unsigned.
  const w = new TcpSeqTracker();
  w.relative('a:1', 'b:2', 0xfffffff0, 10, false, true);
  assert.equal(w.relative('a:1', 'b:2', 0x10, 10, false, true).seq, 0x20);
});

test('capture lines tag the outer checksum state of a capture taken at default offloads', () => {
  const underlay = readCaptureFile(join(FIXTURES, 'kernel-vxlan-offload-8472.pcap'));
  const lines = underlay.records.map((r) => summarizeFrame(r.data, { linkType: underlay.linkType }).text);
  const tag = '[udp cksum partial: offload, not filled in when captured]';
  assert.equal(lines.filter((l) => l.endsWith(tag)).length, 23);
  // A corrupted checksum is plain "bad" ...
  const bad = Buffer.from(underlay.records[14].data);
  bad[41] ^= 0x01;
  assert.match(summarizeFrame(bad).text, / \[bad udp cksum\]$/);
  // ... and "bad, probably offload" when its sender is the capturing node.
  const local = new Set([0xc0000201, 0xc0000202]);
  assert.match(summarizeFrame(bad, { localAddresses: local }).text, / \[bad udp cksum, probably offload\]$/);
  // The offloads-off fixture has valid checksums: no tag at all.
  const clean = readCaptureFile(join(FIXTURES, 'kernel-vxlan-8472.pcap'));
  for (const r of clean.records) assert.doesNotMatch(summarizeFrame(r.data).text, /cksum/);
});

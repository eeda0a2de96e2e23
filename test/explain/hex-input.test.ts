/**
 * `weft explain` reads the hex dumps operators paste: tcpdump -xx / -x and tshark -x output made by
 * the real tools from the default-offload fixture, and Wireshark's "Copy as Hex Dump" layout. The
 * offsets must never be read as bytes, and a bare IP packet read as Ethernet gets a hint.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FormatError } from '../../src/errors';
import { explainFrameRows } from '../../src/explain';
import { parseHexInput, rawIpHint } from '../../src/explain/hex-input';
import { readCaptureFile } from '../../src/pcap/read-capture';
import { FIXTURES, weft } from '../golden/fixtures';

const FILE = join(FIXTURES, 'kernel-vxlan-offload-8472.pcap');
const frame3 = readCaptureFile(FILE).records[2].data;

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error)
    throw new Error(
      `${cmd} could not run (apt-get install ${cmd === 'tshark' ? 'tshark' : cmd}): ${r.error.message}`,
    );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** Only the lines tcpdump prints for packet 3 (its header lines and the hex). */
function tcpdumpPacket3(flag: string): string {
  const out = run('tcpdump', ['-nn', flag, '-r', FILE, '-c', '3']);
  const lines = out.split('\n');
  const starts = lines.flatMap((l, i) => (/^\d\d:\d\d:/.test(l) ? [i] : []));
  return lines.slice(starts[2]).join('\n');
}

describe('parseHexInput', () => {
  it('tcpdump -xx output of a 148-byte VXLAN frame gives exactly its 148 bytes', () => {
    const text = tcpdumpPacket3('-xx');
    assert.match(text, /0x0000:/);
    const r = parseHexInput(text);
    assert.equal(r.format, 'tcpdump');
    assert.equal(r.bytes.length, 148);
    assert.ok(r.bytes.equals(frame3));
  });

  it('tcpdump -X (hex and ASCII) gives the same bytes: the ASCII column is dropped', () => {
    const r = parseHexInput(tcpdumpPacket3('-XX'));
    assert.ok(r.bytes.equals(frame3));
  });

  it('tcpdump -x gives the IP packet alone, which gets the --link ip hint', () => {
    const r = parseHexInput(tcpdumpPacket3('-x'));
    assert.ok(r.bytes.equals(frame3.subarray(14)));
    assert.match(rawIpHint(r.bytes) ?? '', /bare IPv4 packet.*--link ip/);
    assert.equal(rawIpHint(frame3), undefined, 'an Ethernet frame gets no hint');
  });

  it('tshark -x output gives the frame; the padded last line and ASCII are not bytes', () => {
    const r = parseHexInput(run('tshark', ['-r', FILE, '-x', '-Y', 'frame.number==3']));
    assert.equal(r.format, 'offset-dump');
    assert.ok(r.bytes.equals(frame3));
  });

  it("Wireshark's Copy as Hex Dump layout (three spaces after the offset) gives the frame", () => {
    const lines: string[] = [];
    for (let o = 0; o < frame3.length; o += 16) {
      const chunk = [...frame3.subarray(o, o + 16)];
      const hex = chunk
        .map((b) => b.toString(16).padStart(2, '0'))
        .join(' ')
        .padEnd(47);
      const ascii = chunk.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
      lines.push(`${o.toString(16).padStart(4, '0')}   ${hex}   ${ascii}`);
    }
    assert.ok(parseHexInput(lines.join('\n')).bytes.equals(frame3));
  });

  it('a second packet ends the frame; a gap in the offsets is an error naming the line', () => {
    const two = run('tcpdump', ['-nn', '-xx', '-r', FILE, '-c', '2']);
    const r = parseHexInput(two);
    assert.equal(r.morePackets, true);
    assert.equal(r.bytes.length, 42, 'the first ARP frame only');
    const gap = tcpdumpPacket3('-xx')
      .split('\n')
      .filter((l) => !l.includes('0x0010:'))
      .join('\n');
    assert.throws(
      () => parseHexInput(gap),
      (e: unknown) => e instanceof FormatError && /line \d+: offset 0x0020 but 16 bytes/.test(e.message),
    );
  });

  it('plain hex keeps working, including groups that start with 0000', () => {
    assert.deepEqual([...parseHexInput('0000 4500').bytes], [0, 0, 0x45, 0]);
    assert.deepEqual([...parseHexInput('02:00:c0').bytes], [2, 0, 0xc0]);
    assert.equal(parseHexInput('0x0200c0').format, 'hex');
  });
});

describe('weft explain CLI with pasted dumps', () => {
  it('reads tcpdump -xx from stdin: 148 bytes, the partial outer checksum named', () => {
    const r = spawnSync(
      process.execPath,
      [join(FIXTURES, '..', '..', 'bin', 'weft'), 'explain', '--hex-file', '-'],
      {
        input: tcpdumpPacket3('-xx'),
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /148 bytes, link type Ethernet/);
    assert.match(r.stdout, /0x8487 partial: left for checksum offload/);
    assert.match(r.stdout, /VNI\s+1 /);
  });

  it('a fixed source port 8472 is not called a hash of the inner flow', () => {
    const f = Buffer.from(frame3);
    f.writeUInt16BE(8472, 34);
    const ex = explainFrameRows(f);
    const sp = ex.layers.find((l) => l.name === 'UDP')!.fields.find((x) => x.name === 'source port')!;
    assert.match(sp.value, /fixed: the sender's bound port/);
    const orig = explainFrameRows(frame3).layers.find((l) => l.name === 'UDP')!.fields[0];
    assert.match(orig.value, /likely a hash of the inner flow/);
  });

  it('explain --pcap reads pcapng; every outer checksum of the default-offload capture is partial', () => {
    const ng = join(FIXTURES, 'kernel-vxlan-offload-8472.pcapng');
    for (let n = 3; n <= 25; n += 11) {
      const r = weft(['explain', '--pcap', ng, '--frame', String(n)]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(
        r.stdout,
        /^\s+40\s+\S\S \S\S\s+checksum\s+0x[0-9a-f]{4} partial: left for checksum offload/m,
      );
    }
  });

  it('a wrong checksum is INVALID, and bad probably offload with --local-ip of its sender', () => {
    const bad = Buffer.from(frame3);
    bad[41] ^= 0x01;
    const hex = bad.toString('hex');
    const plain = weft(['explain', hex]);
    assert.match(plain.stdout, /checksum\s+0x8486 INVALID, computed 0x[0-9a-f]{4} \(over/);
    const local = weft(['explain', hex, '--local-ip', '192.0.2.1']);
    assert.match(local.stdout, /checksum\s+0x8486 INVALID, computed 0x[0-9a-f]{4}: bad, probably offload/);
  });
});

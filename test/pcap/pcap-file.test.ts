import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FormatError } from '../../src/errors';
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  PCAP_MAGIC_NSEC,
  PCAP_MAGIC_USEC,
  PcapFileWriter,
  parsePcap,
  serializePcap,
  type PcapRecord,
} from '../../src/pcap/pcap-file';
import { networkLayer } from '../../src/pcap/link-layer';
import { FIXTURES } from '../golden/fixtures';

const rec = (tsSec: number, tsNsec: number, bytes: number[]): PcapRecord => ({
  tsSec,
  tsNsec,
  data: Buffer.from(bytes),
  origLen: bytes.length,
});

/** buildPcap writes a file by hand in any byte order / resolution, to test the reader independently. */
function buildPcap(
  bigEndian: boolean,
  magic: number,
  linkType: number,
  records: Array<[number, number, Buffer]>,
): Buffer {
  const parts: Buffer[] = [];
  const h = Buffer.alloc(24);
  const w32 = (b: Buffer, v: number, o: number): number =>
    bigEndian ? b.writeUInt32BE(v, o) : b.writeUInt32LE(v, o);
  const w16 = (b: Buffer, v: number, o: number): number =>
    bigEndian ? b.writeUInt16BE(v, o) : b.writeUInt16LE(v, o);
  w32(h, magic, 0);
  w16(h, 2, 4);
  w16(h, 4, 6);
  w32(h, 65535, 16);
  w32(h, linkType, 20);
  parts.push(h);
  for (const [sec, frac, data] of records) {
    const r = Buffer.alloc(16);
    w32(r, sec, 0);
    w32(r, frac, 4);
    w32(r, data.length, 8);
    w32(r, data.length + 10, 12);
    parts.push(r, data);
  }
  return Buffer.concat(parts);
}

describe('pcap file reader and writer', () => {
  it('round-trips records, timestamps and link type through serializePcap/parsePcap', () => {
    const records = [
      rec(1700000000, 123456000, [1, 2, 3]),
      rec(1700000001, 999999000, []),
      rec(5, 0, [0xff]),
    ];
    const buf = serializePcap({ linkType: LINKTYPE_RAW, records });
    assert.equal(buf.readUInt32LE(0), PCAP_MAGIC_USEC, 'written little-endian, microsecond magic');
    const f = parsePcap(buf);
    assert.equal(f.linkType, LINKTYPE_RAW);
    assert.equal(f.nanosecond, false);
    assert.equal(f.bigEndian, false);
    assert.deepEqual(
      f.records.map((r) => [r.tsSec, r.tsNsec, [...r.data], r.origLen]),
      records.map((r) => [r.tsSec, r.tsNsec, [...r.data], r.origLen]),
    );
  });

  it('round-trips every record of the kernel fixture byte for byte', () => {
    const raw = readFileSync(join(FIXTURES, 'kernel-vxlan-8472.pcap'));
    const f = parsePcap(raw);
    assert.equal(f.records.length, 25);
    assert.equal(f.linkType, LINKTYPE_ETHERNET);
    const again = serializePcap({ linkType: f.linkType, snaplen: f.snaplen, records: f.records });
    assert.deepEqual(again, raw, 'dumpcap writes LE/usec, so our writer reproduces the file exactly');
  });

  it('PcapFileWriter streams the same file serializePcap builds', () => {
    const dir = mkdtempSync(join(tmpdir(), `weft-pcapw-${process.pid}-`));
    try {
      const path = join(dir, 'stream.pcap');
      const w = new PcapFileWriter(path, LINKTYPE_ETHERNET, 65535);
      w.write(Buffer.from([1, 2, 3]), 1700000000_123456);
      w.write(Buffer.from([0xff]), 5_000001, 1500);
      w.close();
      assert.equal(w.count, 2);
      const expected = serializePcap({
        linkType: LINKTYPE_ETHERNET,
        snaplen: 65535,
        records: [
          { tsSec: 1700000000, tsNsec: 123456000, data: Buffer.from([1, 2, 3]) },
          { tsSec: 5, tsNsec: 1000, data: Buffer.from([0xff]), origLen: 1500 },
        ],
      });
      assert.deepEqual(readFileSync(path), expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const [name, bigEndian, magic] of [
    ['big-endian microsecond', true, PCAP_MAGIC_USEC],
    ['little-endian nanosecond', false, PCAP_MAGIC_NSEC],
    ['big-endian nanosecond', true, PCAP_MAGIC_NSEC],
  ] as const) {
    it(`reads ${name} files`, () => {
      const buf = buildPcap(bigEndian, magic, 229, [
        [10, 5, Buffer.from([0x60, 1, 2])],
        [11, 7, Buffer.from([])],
      ]);
      const f = parsePcap(buf);
      assert.equal(f.bigEndian, bigEndian);
      assert.equal(f.nanosecond, magic === PCAP_MAGIC_NSEC);
      assert.equal(f.linkType, 229);
      assert.equal(f.records.length, 2);
      assert.deepEqual([...f.records[0].data], [0x60, 1, 2]);
      assert.equal(f.records[0].origLen, 13);
      assert.equal(f.records[0].tsNsec, magic === PCAP_MAGIC_NSEC ? 5 : 5000);
      assert.equal(f.records[1].tsSec, 11);
    });
  }

  const corrupt: Array<[string, Buffer, RegExp]> = [
    ['an empty file', Buffer.alloc(0), /too short/],
    ['a short header', Buffer.from([0xd4, 0xc3, 0xb2, 0xa1, 2, 0]), /too short/],
    ['an unknown magic', Buffer.alloc(24, 0x41), /unknown magic/],
    ['a pcapng file', Buffer.concat([Buffer.from([0x0a, 0x0d, 0x0d, 0x0a]), Buffer.alloc(28)]), /pcapng/],
    ['version 1', (() => { const b = serializePcap({ linkType: 1, records: [] }); b.writeUInt16LE(1, 4); return b; })(), /version/],
    ['a truncated record header', Buffer.concat([serializePcap({ linkType: 1, records: [] }), Buffer.alloc(7)]), /truncated record header/],
    ['truncated record data', serializePcap({ linkType: 1, records: [rec(0, 0, [1, 2, 3, 4])] }).subarray(0, 24 + 16 + 2), /truncated data/],
    ['an absurd captured length', (() => { const b = serializePcap({ linkType: 1, records: [rec(0, 0, [1])] }); b.writeUInt32LE(0xfffffff0, 24 + 8); return b; })(), /implausible/],
    ['a sub-second field out of range', (() => { const b = serializePcap({ linkType: 1, records: [rec(0, 0, [1])] }); b.writeUInt32LE(2_000_000, 24 + 4); return b; })(), /out of range/],
  ]; // prettier-ignore
  for (const [what, buf, re] of corrupt) {
    it(`rejects ${what} with FormatError`, () => {
      assert.throws(
        () => parsePcap(buf),
        (err: unknown) =>
          err instanceof FormatError && err.code === 'WEFT_ERR_FORMAT' && re.test(err.message),
      );
    });
  }

  it('never throws anything but FormatError on truncated or mutated fixture files', () => {
    const raw = readFileSync(join(FIXTURES, 'kernel-vxlan-8472.pcap'));
    fc.assert(
      fc.property(
        fc.nat(raw.length),
        fc.array(fc.tuple(fc.nat(raw.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        (cut, edits) => {
          const b = Buffer.from(raw.subarray(0, cut));
          for (const [pos, v] of edits) if (pos < b.length) b[pos] = v;
          try {
            const f = parsePcap(b);
            for (const r of f.records) assert.ok(r.data.length <= b.length);
          } catch (err) {
            if (!(err instanceof FormatError)) throw err;
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('networkLayer', () => {
  it('finds the IP packet for Ethernet, SLL and raw link types', () => {
    const eth = Buffer.alloc(34);
    eth.writeUInt16BE(0x0800, 12);
    assert.deepEqual(networkLayer(1, eth), { offset: 14, etherType: 0x0800 });
    const sll = Buffer.alloc(36);
    sll.writeUInt16BE(0x86dd, 14);
    assert.deepEqual(networkLayer(113, sll), { offset: 16, etherType: 0x86dd });
    assert.deepEqual(networkLayer(101, Buffer.from([0x45])), { offset: 0, etherType: 0x0800 });
    assert.deepEqual(networkLayer(229, Buffer.from([0x60])), { offset: 0, etherType: 0x86dd });
    assert.equal(networkLayer(1, Buffer.alloc(10)), undefined, 'short Ethernet');
    assert.equal(networkLayer(105, eth), undefined, 'unsupported link type');
  });
});

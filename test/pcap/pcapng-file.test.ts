/**
 * pcapng reader: files built block by block here (both byte orders, timestamp resolutions, simple
 * and obsolete packet blocks, several interfaces and sections, malformed input), and the files
 * dumpcap wrote (test/fixtures/*.pcapng), checked against tshark's reading of them.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FormatError } from '../../src/errors';
import {
  parsePcapng,
  PCAPNG_EPB,
  PCAPNG_IDB,
  PCAPNG_PB,
  PCAPNG_SHB,
  PCAPNG_SPB,
} from '../../src/pcap/pcapng-file';
import { parseCapture, readCaptureFile } from '../../src/pcap/read-capture';
import { FIXTURES, tshark } from '../golden/fixtures';

/** Block writer in one byte order. */
class Ng {
  parts: Buffer[] = [];
  constructor(readonly be: boolean) {}
  u16(v: number): Buffer {
    const b = Buffer.alloc(2);
    if (this.be) b.writeUInt16BE(v);
    else b.writeUInt16LE(v);
    return b;
  }
  u32(v: number): Buffer {
    const b = Buffer.alloc(4);
    if (this.be) b.writeUInt32BE(v);
    else b.writeUInt32LE(v);
    return b;
  }
  block(type: number, body: Buffer): this {
    const pad = Buffer.alloc((4 - (body.length % 4)) % 4);
    const total = 12 + body.length + pad.length;
    this.parts.push(this.u32(type), this.u32(total), body, pad, this.u32(total));
    return this;
  }
  option(code: number, value: Buffer): Buffer {
    const pad = Buffer.alloc((4 - (value.length % 4)) % 4);
    return Buffer.concat([this.u16(code), this.u16(value.length), value, pad]);
  }
  shb(): this {
    const body = Buffer.concat([this.u32(0x1a2b3c4d), this.u16(1), this.u16(0), Buffer.alloc(8, 0xff)]);
    return this.block(PCAPNG_SHB, body);
  }
  idb(linkType: number, snaplen = 0, tsresol?: number): this {
    const opts =
      tsresol === undefined ? [] : [this.option(9, Buffer.from([tsresol])), this.option(0, Buffer.alloc(0))];
    return this.block(
      PCAPNG_IDB,
      Buffer.concat([this.u16(linkType), this.u16(0), this.u32(snaplen), ...opts]),
    );
  }
  epb(iface: number, ts: bigint, data: Buffer, origLen = data.length): this {
    const body = Buffer.concat([
      this.u32(iface),
      this.u32(Number(ts >> 32n)),
      this.u32(Number(ts & 0xffffffffn)),
      this.u32(data.length),
      this.u32(origLen),
      data,
    ]);
    return this.block(PCAPNG_EPB, body);
  }
  file(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const frame = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => i & 0xff));

describe('pcapng reader', () => {
  for (const be of [false, true]) {
    it(`reads a ${be ? 'big' : 'little'}-endian section: link type, microsecond timestamps, lengths`, () => {
      const ts = 1_796_470_356_462_214n; // microseconds, the default resolution
      const f = parsePcapng(new Ng(be).shb().idb(1, 262144).epb(0, ts, frame(61), 100).file());
      assert.equal(f.linkType, 1);
      assert.equal(f.bigEndian, be);
      assert.equal(f.records.length, 1);
      assert.deepEqual([f.records[0].tsSec, f.records[0].tsNsec], [1796470356, 462214000]);
      assert.equal(f.records[0].data.length, 61, 'the 3 padding bytes are not data');
      assert.equal(f.records[0].origLen, 100);
    });
  }

  it('honours if_tsresol (nanoseconds, and a power of two) per interface, and mixed link types', () => {
    const ng = new Ng(false)
      .shb()
      .idb(1, 0, 9)
      .idb(101, 0, 0x80 | 10);
    ng.epb(0, 1_500_000_000_123_456_789n, frame(14));
    ng.epb(1, 3n * 1024n + 512n, frame(20));
    const f = parsePcapng(ng.file());
    assert.equal(f.nanosecond, true);
    assert.deepEqual([f.records[0].tsSec, f.records[0].tsNsec], [1_500_000_000, 123_456_789]);
    assert.deepEqual([f.records[1].tsSec, f.records[1].tsNsec], [3, 500_000_000]);
    assert.deepEqual(
      f.records.map((r) => r.linkType),
      [1, 101],
    );
  });

  it('reads simple and obsolete packet blocks and skips blocks it does not use', () => {
    const ng = new Ng(false).shb().idb(1, 50);
    ng.block(4, Buffer.alloc(8)); // name resolution
    const spb = Buffer.concat([ng.u32(60), frame(60)]);
    ng.block(PCAPNG_SPB, spb);
    const pb = Buffer.concat([ng.u16(0), ng.u16(0), ng.u32(0), ng.u32(7), ng.u32(10), ng.u32(10), frame(10)]);
    ng.block(PCAPNG_PB, pb);
    ng.block(5, Buffer.alloc(8)); // interface statistics
    const f = parsePcapng(ng.file());
    assert.equal(f.records.length, 2);
    assert.equal(f.records[0].data.length, 50, 'a simple packet is cut at the snaplen');
    assert.equal(f.records[0].origLen, 60);
    assert.equal(f.records[1].tsNsec, 7000);
  });

  it('a new section starts a new interface list, in its own byte order', () => {
    const a = new Ng(false).shb().idb(1).epb(0, 1n, frame(14)).file();
    const b = new Ng(true).shb().idb(113).epb(0, 2n, frame(16)).file();
    const f = parsePcapng(Buffer.concat([a, b]));
    assert.deepEqual(
      f.records.map((r) => r.linkType),
      [1, 113],
    );
  });

  it('malformed files are FormatErrors naming the block and offset, never RangeErrors', () => {
    const good = new Ng(false).shb().idb(1).epb(0, 1n, frame(30)).file();
    const bad = (buf: Buffer, re: RegExp): void =>
      assert.throws(
        () => parsePcapng(buf),
        (e: unknown) => e instanceof FormatError && re.test(e.message),
      );
    bad(good.subarray(0, good.length - 3), /block 3 at offset \d+: truncated block/);
    bad(new Ng(false).shb().epb(0, 1n, frame(4)).file(), /interface 0, which the section does not describe/);
    const wrongTrailer = Buffer.from(good);
    wrongTrailer.writeUInt32LE(999, good.length - 4);
    bad(wrongTrailer, /trailing block length does not match/);
    fc.assert(
      fc.property(
        fc.integer({ min: 28, max: good.length - 1 }),
        fc.integer({ min: 0, max: 255 }),
        (pos, v) => {
          const b = Buffer.from(good);
          b[pos] = v;
          try {
            parseCapture(b);
          } catch (e) {
            assert.ok(e instanceof FormatError, String(e));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('pcapng files written by dumpcap', () => {
  for (const name of ['kernel-vxlan-offload-8472.pcapng', 'kernel-vxlan-offload-inner.pcapng']) {
    it(`${name}: the records, lengths and nanosecond timestamps tshark reads`, () => {
      const file = join(FIXTURES, name);
      const f = readCaptureFile(file);
      const want = tshark([
        '-r',
        file,
        '-T',
        'fields',
        '-e',
        'frame.time_epoch',
        '-e',
        'frame.len',
        '-e',
        'frame.cap_len',
      ])
        .trim()
        .split('\n')
        .map((l) => l.split('\t'));
      assert.equal(f.records.length, want.length);
      f.records.forEach((r, i) => {
        const [t, len, cap] = want[i];
        assert.equal(`${r.tsSec}.${String(r.tsNsec).padStart(9, '0')}`, t, `record ${i + 1} time`);
        assert.equal(r.origLen, Number(len));
        assert.equal(r.data.length, Number(cap));
      });
    });
  }
});

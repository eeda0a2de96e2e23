/**
 * The reuseport program of `--workers` (src/io/reuseport-bpf.ts), run by the real kernel on
 * loopback: a group of sockets on one port, datagrams from chosen source ports, and each must
 * arrive at socket `source port mod n`. Also the encoding of struct sock_filter.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { endianness } from 'node:os';
import { BatchUdpSocket } from '../../src/io/batch-udp-socket';
import { PacketBatch } from '../../src/io/packet-batch';
import { SystemError } from '../../src/errors';
import { encodeBpf, sourcePortModuloProgram, SOCK_FILTER_SIZE } from '../../src/io/reuseport-bpf';

function sendFrom(srcPort: number, dstPort: number, tag: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(srcPort, '127.0.0.1', () => {
      s.send(Buffer.from([tag]), dstPort, '127.0.0.1', (err) => {
        s.close();
        if (err) reject(err);
        else resolve();
      });
    });
  });
}

/** freePorts returns `count` distinct loopback UDP ports that were free a moment ago. */
async function freePorts(count: number): Promise<number[]> {
  const socks: dgram.Socket[] = [];
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    ports.push(s.address().port);
    socks.push(s);
  }
  for (const s of socks) s.close();
  return ports;
}

function drain(s: BatchUdpSocket, rx: PacketBatch): number[] {
  const tags: number[] = [];
  for (;;) {
    const n = s.recvBatch(rx);
    if (n === 0) return tags;
    for (let k = 0; k < n; k++) tags.push(rx.buffer[rx.offsets[k]!]!);
  }
}

describe('reuseport BPF: socket = source port mod n', () => {
  test('encodes struct sock_filter in host byte order', () => {
    const prog = sourcePortModuloProgram(3);
    const bytes = encodeBpf(prog);
    assert.equal(bytes.length, prog.length * SOCK_FILTER_SIZE);
    const le = endianness() === 'LE';
    const k2 = le ? bytes.readUInt32LE(2 * 8 + 4) : bytes.readUInt32BE(2 * 8 + 4);
    assert.equal(k2, 3, 'mod #3');
    const code0 = le ? bytes.readUInt16LE(0) : bytes.readUInt16BE(0);
    assert.equal(code0, 0xb1, 'ldxb 4*([k]&0xf)');
    assert.throws(() => sourcePortModuloProgram(0), RangeError);
  });

  for (const n of [2, 3]) {
    test(`${n} sockets: every datagram lands on socket (source port mod ${n})`, async (t) => {
      const first = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0, reusePort: true });
      const group = [first];
      t.after(() => group.forEach((s) => s.close()));
      first.attachReuseportProgram(encodeBpf(sourcePortModuloProgram(n)));
      for (let i = 1; i < n; i++) {
        group.push(BatchUdpSocket.bindSync({ address: '127.0.0.1', port: first.port, reusePort: true }));
      }
      const sources = await freePorts(12);
      for (let i = 0; i < sources.length; i++) await sendFrom(sources[i]!, first.port, i);
      await new Promise((r) => setTimeout(r, 50));
      const rx = new PacketBatch(32, 256, 0);
      const got = group.map((s) => drain(s, rx));
      assert.equal(got.flat().length, sources.length, 'every datagram arrived once');
      for (let sock = 0; sock < n; sock++) {
        const want = sources.map((p, i) => (p % n === sock ? i : -1)).filter((i) => i >= 0);
        assert.deepEqual(
          got[sock]!.slice().sort((a, b) => a - b),
          want,
          `socket ${sock}`,
        );
      }
    });
  }

  test('bad programs and sockets without SO_REUSEPORT are refused with clear errors', () => {
    const s = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
    try {
      assert.throws(() => s.attachReuseportProgram(Buffer.alloc(SOCK_FILTER_SIZE * 2 + 1)), /sock_filter/);
      // Without SO_REUSEPORT the kernel has no group to attach the program to.
      assert.throws(
        () => s.attachReuseportProgram(encodeBpf(sourcePortModuloProgram(2))),
        (e: unknown) =>
          e instanceof SystemError && e.errno === 'EINVAL' && /SO_ATTACH_REUSEPORT_CBPF/.test(e.message),
      );
    } finally {
      s.close();
    }
  });
});

/**
 * tun-io: what one TUN read or write costs per 64-byte packet, through the read()/write() loop
 * (`tunRead` / `tunWrite`) and through io_uring (`uringTunRead` / `uringTunWrite`), with no
 * tunnel, iperf3 or peer competing: the number behind the WEFT_TUN_IO default
 * (docs/performance.md). Needs root (a network namespace and two TUN devices).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/tun-io.js [--rounds N] [--json PATH]
 *
 * The native calls are timed directly (not through Tun's policy of when to use the ring), so the
 * table is the raw cost of each. Reads: per round, a UDP socket sends `depth` 64-byte datagrams
 * to an address routed into the TUN (they queue there), then ONE read call is timed. Writes: per round, ONE writeBatch of
 * `depth` 64-byte IPv4/UDP packets to the TUN's own address (delivered to a bound socket that is
 * never read; a full receive buffer drops them after the TUN took them) is timed. Figures are
 * ns per packet over all rounds (median of per-round figures), for queue depths 1, 8, 64, 256.
 */
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadBinding, type NativeUring } from '../src/io/binding';
import { IoCounter } from '../src/io/counters';
import { PacketBatch } from '../src/io/packet-batch';
import { Tun } from '../src/io/tun';
import { buildIpv4 } from '../src/testing/packets';
import { median } from '../src/benchsuite/measure';

const DEPTHS = [1, 8, 64, 256];

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const ipc = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });

async function sendBurst(sock: dgram.Socket, dst: string, n: number, payload: Buffer): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let left = n;
    for (let i = 0; i < n; i++)
      sock.send(payload, 9, dst, (e) => {
        if (e) reject(e);
        else if (--left === 0) resolve();
      });
  });
  await new Promise((r) => setTimeout(r, 2));
}

interface Row {
  mode: string;
  depth: number;
  readNsPerPacket: number;
  writeNsPerPacket: number;
  readSyscallsPerCall: number;
  writeSyscallsPerCall: number;
}

async function inner(rounds: number): Promise<Row[]> {
  ipc('link', 'set', 'lo', 'up');
  const rows: Row[] = [];
  for (const [k, mode] of (['readv', 'io_uring'] as const).entries()) {
    const dev = `wtio${k}`;
    const tun = Tun.open(dev);
    try {
      const b = loadBinding();
      const ring: NativeUring | null = mode === 'io_uring' ? b.uringOpen!(256) : null;
      const read = (batch: PacketBatch, max: number): number => {
        const n =
          ring !== null
            ? b.uringTunRead!(ring, tun.fd, batch.memory, 0, max, tun.counters)
            : b.tunRead(tun.fd, batch.memory, 0, max, tun.counters);
        batch.count = n;
        return n;
      };
      const write = (batch: PacketBatch, end: number): number =>
        ring !== null
          ? b.uringTunWrite!(ring, tun.fd, batch.memory, 0, end, tun.counters)
          : b.tunWrite(tun.fd, batch.memory, 0, end, tun.counters);
      ipc('addr', 'add', `10.99.${k}.1/24`, 'dev', dev);
      ipc('link', 'set', dev, 'up', 'txqueuelen', '1000');
      const sink = dgram.createSocket('udp4');
      await new Promise<void>((r) => sink.bind(9, `10.99.${k}.1`, () => r()));
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, `10.99.${k}.1`, () => r()));
      const payload = Buffer.alloc(64, 0xab);
      const batch = PacketBatch.forPacketSize(256, 1500);
      const out = PacketBatch.forPacketSize(256, 1500);
      const pkt = buildIpv4({
        src: `10.99.${k}.2`,
        dst: `10.99.${k}.1`,
        payload: Buffer.concat([Buffer.from([0x30, 0x39, 0, 9, 0, 72, 0, 0]), payload]),
      });
      for (let i = 0; i < 256; i++) out.push(pkt, 0, pkt.length);
      while (read(batch, 256) > 0); // whatever the kernel sent on link-up (IPv6 off or not)
      for (const depth of DEPTHS) {
        const reads: number[] = [];
        const writes: number[] = [];
        const c = tun.counters;
        const rs0 = c[IoCounter.rxSyscalls]!;
        const ws0 = c[IoCounter.txSyscalls]!;
        let readCalls = 0;
        for (let r = 0; r < rounds; r++) {
          await sendBurst(sock, `10.99.${k}.2`, depth, payload);
          const t0 = process.hrtime.bigint();
          const n = read(batch, depth);
          const t1 = process.hrtime.bigint();
          readCalls++;
          if (n > 0) reads.push(Number(t1 - t0) / n);
          while (read(batch, 256) > 0); // stragglers, untimed
          const t2 = process.hrtime.bigint();
          const w = write(out, depth);
          const t3 = process.hrtime.bigint();
          if (w > 0) writes.push(Number(t3 - t2) / w);
        }
        rows.push({
          mode,
          depth,
          readNsPerPacket: median(reads),
          writeNsPerPacket: median(writes),
          readSyscallsPerCall: (c[IoCounter.rxSyscalls]! - rs0) / readCalls,
          writeSyscallsPerCall: (c[IoCounter.txSyscalls]! - ws0) / rounds,
        });
      }
      sock.close();
      sink.close();
      if (ring !== null) b.uringClose!(ring);
    } finally {
      tun.close();
    }
  }
  return rows;
}

async function main(): Promise<void> {
  const rounds = Number(flag('--rounds') ?? 300);
  if (process.argv.includes('--inner')) {
    const rows = await inner(rounds);
    process.stdout.write(JSON.stringify(rows));
    return;
  }
  const ns = `wtio${process.pid}`;
  ipc('netns', 'add', ns);
  let rows: Row[];
  try {
    const outText = execFileSync(
      'ip',
      ['netns', 'exec', ns, process.execPath, __filename, '--inner', '--rounds', String(rounds)],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    rows = JSON.parse(outText) as Row[];
  } finally {
    ipc('netns', 'del', ns);
  }
  console.table(
    rows.map((r) => ({
      mode: r.mode,
      'queue depth': r.depth,
      'read ns/pkt': r.readNsPerPacket.toFixed(0),
      'syscalls/read call': r.readSyscallsPerCall.toFixed(2),
      'write ns/pkt': r.writeNsPerPacket.toFixed(0),
      'syscalls/write call': r.writeSyscallsPerCall.toFixed(2),
    })),
  );
  const out = flag('--json');
  if (out !== undefined) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const record = {
      date: new Date().toISOString(),
      command:
        `node ${path.relative(process.cwd(), process.argv[1] ?? '')} ${process.argv.slice(2).join(' ')}`.trim(),
      machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cpus: os.cpus().length, kernel: os.release() },
      loadavg: os.loadavg(),
      rounds,
      rows,
    };
    fs.writeFileSync(out, `${JSON.stringify(record, null, 2)}\n`);
    console.log(`wrote ${out}`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});

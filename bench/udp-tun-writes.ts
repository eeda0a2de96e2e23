/**
 * udp-tun-writes: where 64-byte UDP goes through a weft <-> weft VXLAN pair, from the receiving
 * node's own counters: iperf3 `-u -l 64 -b 0` for `--seconds` (as `weft bench`'s udp64), then
 * per round the packets iperf3 sent and received, the packets weft's ingress delivered, its TUN
 * writes per packet (1 without UDP coalescing; a USO super-packet counts once), the datagrams
 * merged, and the receiving namespace's UDP RcvbufErrors (datagrams the iperf3 server's full
 * socket buffer dropped). Needs root, iperf3 and iproute2.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/udp-tun-writes.js [--rounds N] [--seconds S] [--json PATH]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { Cleanup } from '../src/testing/cleanup';
import { createUnderlay, type Netns } from '../src/testing/netns';
import { readWeftStats, startWeftLink } from '../src/testing/weft-link';

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : dflt;
}

function rcvbufErrors(ns: Netns): number {
  const lines = ns
    .exec('cat', ['/proc/net/snmp'])
    .split('\n')
    .filter((l) => l.startsWith('Udp: '));
  const names = lines[0]!.split(/\s+/);
  return Number(lines[1]!.split(/\s+/)[names.indexOf('RcvbufErrors')]);
}

/** Round is one iperf3 run's figures. */
interface Round {
  iperfSent: number;
  iperfReceivedPps: number;
  weftDelivered: number;
  tunWritesPerPacket: number;
  udpCoalesced: number;
  udpSuperPackets: number;
  serverSocketDrops: number;
}

async function round(seconds: number): Promise<Round> {
  const c = new Cleanup();
  try {
    const u = createUnderlay(c);
    const peer = (subnet: string, ip: string, mac: string): string => `${subnet}=${ip},${mac}`;
    await startWeftLink(u.a, [
      '--backend', 'vxlan', '--dev', 'uwa0', '--local', u.aIp, '--address', '10.244.0.1/32',
      '--vtep-mac', '0e:00:00:00:0a:01', '--peer', peer('10.244.1.0/24', u.bIp, '0e:00:00:00:0b:02'),
    ]); // prettier-ignore
    const b = await startWeftLink(u.b, [
      '--backend', 'vxlan', '--dev', 'uwb0', '--local', u.bIp, '--address', '10.244.1.1/32',
      '--vtep-mac', '0e:00:00:00:0b:02', '--peer', peer('10.244.0.0/24', u.aIp, '0e:00:00:00:0a:01'),
    ]); // prettier-ignore
    process.stderr.write(`${b.startLine}\n`);
    u.b.spawn('iperf3 -s', 'iperf3', ['-s', '-B', '10.244.1.1', '-p', '5201']);
    await new Promise((r) => setTimeout(r, 500));
    const s0 = await readWeftStats(b.proc);
    const e0 = rcvbufErrors(u.b);
    const out = execFileSync(
      'ip',
      ['netns', 'exec', u.a.name, 'iperf3', '-c', '10.244.1.1', '-p', '5201', '-B', '10.244.0.1'].concat([
        '-t',
        String(seconds),
        '-J',
        '-u',
        '-l',
        '64',
        '-b',
        '0',
      ]),
      { encoding: 'utf8' },
    );
    const s1 = await readWeftStats(b.proc);
    const j = (
      JSON.parse(out) as { end: { sum: { packets: number; lost_packets: number; seconds: number } } }
    ).end.sum;
    const delivered = s1.ingress.packets - s0.ingress.packets;
    const writes = (s1.tun.txPackets ?? 0) - (s0.tun.txPackets ?? 0);
    return {
      iperfSent: j.packets,
      iperfReceivedPps: Math.round((j.packets - j.lost_packets) / j.seconds),
      weftDelivered: delivered,
      tunWritesPerPacket: delivered > 0 ? Number((writes / delivered).toFixed(3)) : NaN,
      // (Absent in stats of a tree without UDP coalescing: 0.)
      udpCoalesced: (s1.offload!.udpCoalesced ?? 0) - (s0.offload!.udpCoalesced ?? 0),
      udpSuperPackets: (s1.offload!.udpSuperPackets ?? 0) - (s0.offload!.udpSuperPackets ?? 0),
      // The receiving namespace also holds weft's underlay socket; iperf3's is the one that overflows.
      serverSocketDrops: rcvbufErrors(u.b) - e0,
    };
  } finally {
    await c.run();
  }
}

async function main(): Promise<void> {
  const rounds = Number(flag('--rounds', '3'));
  const seconds = Number(flag('--seconds', '4'));
  const all: Round[] = [];
  for (let i = 0; i < rounds; i++) {
    const r = await round(seconds);
    all.push(r);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
  const json = flag('--json', '');
  if (json !== '')
    fs.writeFileSync(json, JSON.stringify({ date: new Date().toISOString(), rounds: all }, null, 2));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

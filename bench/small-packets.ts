/**
 * small-packets: what weft itself does with 64-byte UDP at full speed, from its own counters (the
 * `weft link` stats both nodes print on SIGUSR1), beside what iperf3 received. Needs root (two
 * namespaces, veth, TUN). Per round: a fresh weft <-> weft VXLAN pair at its defaults, one
 * `iperf3 -u -l 64 -b 0` run, then both nodes' stats.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/small-packets.js [--rounds N] [--duration S] [--streams N] [--json PATH]
 *
 * `--verbose` prints both nodes' TUN, UDP, offload and batch-size counters as one JSON line on
 * stderr per round.
 *
 * `--streams N` (default 1) runs N parallel iperf3 streams (`-P N`): N flows whose packets
 * interleave in the sender's TUN reads, each hashed to its own source port (`--src-port flow`).
 *
 * Columns: iperf3's received packets/s and loss; datagrams weft forwarded (sender's UDP
 * txPackets) per second; sendmmsg calls per datagram and datagrams per UDP GSO train (egress,
 * src/dataplane/udp-trains.ts); recvmmsg calls and TUN write calls per datagram on the receiver,
 * which reads a train as one GRO read. Drops inside weft are printed when there are any.
 */
import fs from 'node:fs';
import { Cleanup } from '../src/testing/cleanup';
import { createUnderlay } from '../src/testing/netns';
import { sleep } from '../src/testing/shell';
import { readWeftStats, startWeftLink } from '../src/testing/weft-link';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

interface Row {
  iperfKpps: number;
  lossPct: number;
  forwardedKpps: number;
  sendmmsgPerDatagram: number;
  datagramsPerTrain: number;
  recvmmsgPerDatagram: number;
  tunWritesPerDatagram: number;
  drops: string;
}

async function round(seconds: number, streams: number): Promise<Row> {
  const c = new Cleanup();
  try {
    const u = createUnderlay(c);
    const macA = '0e:00:00:00:0a:01';
    const macB = '0e:00:00:00:0b:02';
    const a = await startWeftLink(u.a, [
      '--backend', 'vxlan', '--dev', 'wspa', '--local', u.aIp, '--address', '10.244.0.1/32',
      '--vtep-mac', macA, '--peer', `10.244.1.0/24=${u.bIp},${macB}`,
    ]); // prettier-ignore
    c.add('weft a', () => void a.proc.stop());
    const b = await startWeftLink(u.b, [
      '--backend', 'vxlan', '--dev', 'wspb', '--local', u.bIp, '--address', '10.244.1.1/32',
      '--vtep-mac', macB, '--peer', `10.244.0.0/24=${u.aIp},${macA}`,
    ]); // prettier-ignore
    c.add('weft b', () => void b.proc.stop());
    const srv = u.b.spawn('iperf3 -s', 'iperf3', ['-s', '-B', '10.244.1.1', '-1']);
    c.add('iperf3 -s', () => void srv.stop());
    await sleep(500);
    const out = u.a.exec('iperf3', [
      '-c', '10.244.1.1', '-B', '10.244.0.1', '-u', '-l', '64', '-b', '0', '-t', String(seconds), '-J',
      '-P', String(streams),
    ]); // prettier-ignore
    const sum = (
      JSON.parse(out) as { end: { sum: { packets: number; lost_packets: number; seconds: number } } }
    ).end.sum;
    const sa = await readWeftStats(a.proc);
    const sb = await readWeftStats(b.proc);
    const tx = sa.udp.txPackets ?? 0;
    const rx = sb.udp.rxPackets ?? 0;
    const trains = sa.offload?.gsoTrains ?? 0;
    const drops = { ...sa.egressDrops, ...sb.ingressDrops };
    if (process.argv.includes('--verbose')) {
      console.error(
        JSON.stringify({
          sender: { tun: sa.tun, tunIo: sa.tunIo, egress: sa.egress, udp: sa.udp, offload: sa.offload },
          receiver: { tun: sb.tun, tunIo: sb.tunIo, ingress: sb.ingress, udp: sb.udp, offload: sb.offload },
        }),
      );
    }
    return {
      iperfKpps: (sum.packets - sum.lost_packets) / sum.seconds / 1000,
      lossPct: (100 * sum.lost_packets) / sum.packets,
      forwardedKpps: tx / sum.seconds / 1000,
      sendmmsgPerDatagram: (sa.udp.txSyscalls ?? 0) / tx,
      datagramsPerTrain: trains > 0 ? tx / trains : 1,
      recvmmsgPerDatagram: (sb.udp.rxSyscalls ?? 0) / rx,
      tunWritesPerDatagram: (sb.tun.txSyscalls ?? 0) / rx,
      drops: Object.keys(drops).length > 0 ? JSON.stringify(drops) : '',
    };
  } finally {
    await c.run();
  }
}

async function main(): Promise<void> {
  const rounds = Number(flag('--rounds') ?? 3);
  const seconds = Number(flag('--duration') ?? 4);
  const streams = Number(flag('--streams') ?? 1);
  const rows: Row[] = [];
  console.log(
    '| round | iperf3 kpps | loss % | weft forwarded kpps | sendmmsg / datagram | datagrams / GSO train | recvmmsg / datagram | TUN write calls / datagram | drops |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (let r = 1; r <= rounds; r++) {
    const x = await round(seconds, streams);
    rows.push(x);
    console.log(
      `| ${r} | ${x.iperfKpps.toFixed(1)} | ${x.lossPct.toFixed(1)} | ${x.forwardedKpps.toFixed(1)} | ` +
        `${x.sendmmsgPerDatagram.toFixed(3)} | ${x.datagramsPerTrain.toFixed(1)} | ${x.recvmmsgPerDatagram.toFixed(3)} | ` +
        `${x.tunWritesPerDatagram.toFixed(3)} | ${x.drops} |`,
    );
  }
  const json = flag('--json');
  if (json !== undefined) fs.writeFileSync(json, `${JSON.stringify({ seconds, streams, rows }, null, 2)}\n`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

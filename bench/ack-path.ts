/**
 * ack-path: what the reverse (ACK) direction of one TCP stream costs a weft <-> weft VXLAN pair,
 * from both nodes' own counters and the kernel's TCP counters. Needs root (two namespaces, veth,
 * TUN). Per round: a fresh pair as `weft bench`'s weft-batch case builds it (`weft link --backend
 * vxlan --io batch`, defaults otherwise), one `iperf3 -c` run from A to B, both nodes' stats and
 * `nstat` in both namespaces before and after.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/ack-path.js [--mtu 1500] [--duration 4] [--rounds 1]
 *     [--perf SECONDS --perf-out FILE] [--kernel] [--json PATH]
 *
 * The data direction is A's egress (TSO super-packets read from A's TUN) and B's ingress (GRO
 * trains received, coalesced super-packets written to B's TUN). The ACK direction is B's egress
 * (B's TCP ACKs read from B's TUN, sent as UDP) and A's ingress (received, written to A's TUN).
 *
 * `--perf S` records `perf record -a -g -F 999` for S seconds from 1 s into the iperf3 run, with
 * both weft processes started under NODE_OPTIONS=--perf-basic-prof (JavaScript frames named), into
 * `--perf-out` (default perf-ack.data), and prints both processes' samples split by direction and
 * by what they were doing (bench/perf-split.ts), in ms of CPU per Gbit carried.
 *
 * `--kernel` runs the same stream over kernel VXLAN (flannel.1 as flannel sets it up) instead and
 * reports only the kernel's TCP counters: how many ACKs the same receiver sends without weft.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import { Cleanup } from '../src/testing/cleanup';
import { addKernelFlannelPeer, setupKernelFlannel } from '../src/testing/kernel-flannel';
import { createUnderlay, type Netns } from '../src/testing/netns';
import { sleep } from '../src/testing/shell';
import { readWeftStats, startWeftLink, type WeftStats } from '../src/testing/weft-link';
import { formatSplit, splitSamples } from './perf-split';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const NSTAT_KEYS = [
  'TcpInSegs',
  'TcpOutSegs',
  'TcpExtDelayedACKs',
  'TcpExtTCPHPAcks',
  'TcpExtTCPPureAcks',
  'TcpExtTCPHPHits',
  'TcpExtTCPDelivered',
] as const;

function nstat(ns: Netns): Record<string, number> {
  // -a absolute, -s do not touch the history file, -z zeros too.
  const out = ns.exec('nstat', ['-asz', ...NSTAT_KEYS]);
  const r: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const m = /^(\S+)\s+(\d+)/.exec(line);
    if (m) r[m[1]!] = Number(m[2]);
  }
  return r;
}

function diff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const r: Record<string, number> = {};
  for (const k of Object.keys(b)) r[k] = (b[k] ?? 0) - (a[k] ?? 0);
  return r;
}

/** Delta of the counters this tool reads, after - before. */
function statDelta(s0: WeftStats, s1: WeftStats): Record<string, number> {
  const d = (x: number | undefined, y: number | undefined): number => (y ?? 0) - (x ?? 0);
  const o0 = s0.offload;
  const o1 = s1.offload;
  return {
    egressPackets: d(s0.egress.packets, s1.egress.packets),
    egressBatches: d(s0.egress.batches, s1.egress.batches),
    ingressPackets: d(s0.ingress.packets, s1.ingress.packets),
    ingressBatches: d(s0.ingress.batches, s1.ingress.batches),
    tunRxPackets: d(s0.tun.rxPackets, s1.tun.rxPackets),
    tunRxSyscalls: d(s0.tun.rxSyscalls, s1.tun.rxSyscalls),
    tunRxEagain: d(s0.tun.rxEagain, s1.tun.rxEagain),
    tunTxPackets: d(s0.tun.txPackets, s1.tun.txPackets),
    tunTxSyscalls: d(s0.tun.txSyscalls, s1.tun.txSyscalls),
    tunRingCalls: d(s0.tunIo?.ringCalls, s1.tunIo?.ringCalls),
    udpRxPackets: d(s0.udp.rxPackets, s1.udp.rxPackets),
    udpRxSyscalls: d(s0.udp.rxSyscalls, s1.udp.rxSyscalls),
    udpRxEagain: d(s0.udp.rxEagain, s1.udp.rxEagain),
    udpTxPackets: d(s0.udp.txPackets, s1.udp.txPackets),
    udpTxSyscalls: d(s0.udp.txSyscalls, s1.udp.txSyscalls),
    superPacketsIn: d(o0?.superPacketsIn, o1?.superPacketsIn),
    segmentsOut: d(o0?.segmentsOut, o1?.segmentsOut),
    gsoTrains: d(o0?.gsoTrains, o1?.gsoTrains),
    groTrains: d(o0?.groTrains, o1?.groTrains),
    groSegments: d(o0?.groSegments, o1?.groSegments),
    superPacketsOut: d(o0?.superPacketsOut, o1?.superPacketsOut),
    segmentsMerged: d(o0?.segmentsMerged, o1?.segmentsMerged),
    egressYields: d(s0.egress.yields, s1.egress.yields),
    ingressYields: d(s0.ingress.yields, s1.ingress.yields),
  };
}

interface Round {
  gbit: number;
  seconds: number;
  /** A = iperf3 client (data sender), B = server (ACK sender). */
  a: Record<string, number>;
  b: Record<string, number>;
  nstatA: Record<string, number>;
  nstatB: Record<string, number>;
  derived: Record<string, number>;
  drops: Record<string, number>;
  pids: { a: number; b: number };
}

async function round(mtu: number, seconds: number, perfS: number, perfOut: string): Promise<Round> {
  const c = new Cleanup();
  try {
    const u = createUnderlay(c, mtu, 'wk');
    const macA = '0e:00:00:00:0a:01';
    const macB = '0e:00:00:00:0b:02';
    const env = perfS > 0 ? ['NODE_OPTIONS=--perf-basic-prof'] : [];
    const a = await startWeftLink(u.a, [
      '--backend', 'vxlan', '--io', 'batch', '--dev', 'wkta', '--local', u.aIp, '--address', '10.244.0.1/32',
      '--vtep-mac', macA, '--peer', `10.244.1.0/24=${u.bIp},${macB}`,
    ], 15_000, env); // prettier-ignore
    c.add('weft a', () => void a.proc.stop());
    const b = await startWeftLink(u.b, [
      '--backend', 'vxlan', '--io', 'batch', '--dev', 'wktb', '--local', u.bIp, '--address', '10.244.1.1/32',
      '--vtep-mac', macB, '--peer', `10.244.0.0/24=${u.aIp},${macA}`,
    ], 15_000, env); // prettier-ignore
    c.add('weft b', () => void b.proc.stop());
    u.a.exec('ping', ['-c', '1', '-W', '2', '-I', '10.244.0.1', '10.244.1.1']);
    const srv = u.b.spawn('iperf3 -s', 'iperf3', ['-s', '-B', '10.244.1.1', '-1']);
    c.add('iperf3 -s', () => void srv.stop());
    await sleep(500);
    const sa0 = await readWeftStats(a.proc);
    const sb0 = await readWeftStats(b.proc);
    const na0 = nstat(u.a);
    const nb0 = nstat(u.b);
    let perfDone: Promise<void> = Promise.resolve();
    if (perfS > 0) {
      if (seconds < perfS + 1.5)
        throw new Error('--duration must exceed --perf by 1.5 s (the window starts 1 s in)');
      const p = spawn(
        'sh',
        ['-c', `sleep 1; exec perf record -a -g -F 999 -o ${perfOut} -- sleep ${perfS} >/dev/null 2>&1`],
        { stdio: 'ignore' },
      );
      perfDone = new Promise((resolve) => p.once('exit', () => resolve()));
      c.add('perf', () => void (p.exitCode === null && p.kill('SIGINT')));
    }
    const out = u.a.exec('iperf3', [
      '-c', '10.244.1.1', '-B', '10.244.0.1', '-t', String(seconds), '-J',
    ]); // prettier-ignore
    const end = (JSON.parse(out) as { end: { sum_received: { bits_per_second: number; seconds: number } } })
      .end.sum_received;
    await perfDone;
    const sa1 = await readWeftStats(a.proc);
    const sb1 = await readWeftStats(b.proc);
    const na1 = nstat(u.a);
    const nb1 = nstat(u.b);
    const da = statDelta(sa0, sa1);
    const db = statDelta(sb0, sb1);
    const dataSp = da.superPacketsIn!;
    const acks = db.egressPackets!;
    const derived = {
      dataSuperPacketsPerS: dataSp / end.seconds,
      ackPacketsPerS: acks / end.seconds,
      acksPerDataSuperPacket: acks / dataSp,
      acksPerCoalescedWrite: acks / db.superPacketsOut!,
      ackTunReadsPerAck: db.tunRxSyscalls! / acks,
      acksPerEgressBatch: acks / db.egressBatches!,
      ackSendmmsgPerAck: db.udpTxSyscalls! / acks,
      ackRecvmmsgPerAck: da.udpRxSyscalls! / da.ingressPackets!,
      ackTunWriteSyscallsPerAck: da.tunTxSyscalls! / da.ingressPackets!,
      ackTunRingCallsPerAck: da.tunRingCalls! / da.ingressPackets!,
      acksPerIngressBatch: da.ingressPackets! / da.ingressBatches!,
      receiverTcpOutSegsPerS: nb1.TcpOutSegs! - nb0.TcpOutSegs!,
      acksPerGbit: acks / end.seconds / (end.bits_per_second / 1e9),
      dataSegmentsPerAck: (na1.TcpOutSegs! - na0.TcpOutSegs!) / (nb1.TcpOutSegs! - nb0.TcpOutSegs!),
    };
    derived.receiverTcpOutSegsPerS! /= end.seconds;
    return {
      gbit: end.bits_per_second / 1e9,
      seconds: end.seconds,
      a: da,
      b: db,
      nstatA: diff(na0, na1),
      nstatB: diff(nb0, nb1),
      derived,
      drops: {
        ...sa1.drops,
        ...Object.fromEntries(Object.entries(sb1.drops).map(([k, v]) => [`b.${k}`, v])),
      },
      pids: { a: a.proc.pid, b: b.proc.pid },
    };
  } finally {
    await c.run();
  }
}

/** kernelRound runs the same stream over kernel VXLAN; only the kernel's TCP counters are read. */
async function kernelRound(mtu: number, seconds: number): Promise<Record<string, unknown>> {
  const c = new Cleanup();
  try {
    const u = createUnderlay(c, mtu, 'wk');
    const kA = setupKernelFlannel(u.a, {
      local: u.aIp,
      underlayDev: u.aDev,
      subnet: '10.244.0.0/24',
      underlayMtu: mtu,
    });
    const kB = setupKernelFlannel(u.b, {
      local: u.bIp,
      underlayDev: u.bDev,
      subnet: '10.244.1.0/24',
      underlayMtu: mtu,
    });
    addKernelFlannelPeer(u.a, kA, { subnet: '10.244.1.0/24', mac: kB.mac, publicIp: u.bIp });
    addKernelFlannelPeer(u.b, kB, { subnet: '10.244.0.0/24', mac: kA.mac, publicIp: u.aIp });
    u.a.exec('ping', ['-c', '1', '-W', '2', '-I', kA.podIp, kB.podIp]);
    const srv = u.b.spawn('iperf3 -s', 'iperf3', ['-s', '-B', kB.podIp, '-1']);
    c.add('iperf3 -s', () => void srv.stop());
    await sleep(500);
    const na0 = nstat(u.a);
    const nb0 = nstat(u.b);
    const out = u.a.exec('iperf3', ['-c', kB.podIp, '-B', kA.podIp, '-t', String(seconds), '-J']);
    const end = (JSON.parse(out) as { end: { sum_received: { bits_per_second: number; seconds: number } } })
      .end.sum_received;
    const nstatA = diff(na0, nstat(u.a));
    const nstatB = diff(nb0, nstat(u.b));
    const gbit = end.bits_per_second / 1e9;
    return {
      kernel: true,
      gbit,
      seconds: end.seconds,
      nstatA,
      nstatB,
      derived: {
        ackPacketsPerS: nstatB.TcpOutSegs! / end.seconds,
        acksPerGbit: nstatB.TcpOutSegs! / end.seconds / gbit,
        dataSegmentsPerAck: nstatA.TcpOutSegs! / nstatB.TcpOutSegs!,
      },
    };
  } finally {
    await c.run();
  }
}

async function main(): Promise<void> {
  const mtu = Number(flag('--mtu') ?? 1500);
  const rounds = Number(flag('--rounds') ?? 1);
  const seconds = Number(flag('--duration') ?? 4);
  const perfS = Number(flag('--perf') ?? 0);
  const perfOut = flag('--perf-out') ?? 'perf-ack.data';
  const rows: unknown[] = [];
  for (let r = 1; r <= rounds; r++) {
    if (process.argv.includes('--kernel')) {
      const k = await kernelRound(mtu, seconds);
      rows.push(k);
      console.log(JSON.stringify(k, null, 1));
      continue;
    }
    const x = await round(mtu, seconds, perfS, perfOut);
    rows.push(x);
    console.log(JSON.stringify(x, null, 1));
    if (perfS > 0) {
      const text = execFileSync('perf', ['script', '-i', perfOut, '-F', 'pid,ip,sym,dso'], {
        maxBuffer: 1 << 30,
        stdio: ['ignore', 'pipe', 'ignore'],
      }).toString();
      const split = splitSamples(text, [x.pids.a, x.pids.b]);
      const names = new Map([
        [x.pids.a, 'A (data sender; its ACKs come in on ingress)'],
        [x.pids.b, 'B (data receiver; its ACKs go out on egress)'],
      ]);
      // One sample is 1/999 s of CPU; over perfS seconds at x.gbit Gbit/s.
      console.log(formatSplit(split, names, 1000 / 999 / perfS / x.gbit));
    }
  }
  const json = flag('--json');
  if (json !== undefined) fs.writeFileSync(json, `${JSON.stringify({ mtu, seconds, rows }, null, 2)}\n`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

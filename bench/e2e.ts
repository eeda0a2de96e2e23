/**
 * End-to-end benchmark in network namespaces: kernel VXLAN vs weft (batched and dgram I/O) vs
 * socat, iperf3 TCP throughput and 64-byte UDP packet rate, interleaved in one run.
 *
 *   per case, two fresh namespaces joined by veth (192.0.2.1 <-> 192.0.2.2, MTU --mtu):
 *     kernel      flannel-style flannel.1 on both sides (anchors.md A)       10.244.0.1 -> 10.244.1.1
 *     weft-batch  weft link --backend vxlan --io batch on both sides          10.244.0.1 -> 10.244.1.1
 *     weft-dgram  weft link --backend vxlan --io dgram on both sides          10.244.0.1 -> 10.244.1.1
 *     weft-udp    weft link --backend udp --io batch (flannel-UDP)            10.244.0.1 -> 10.244.1.1
 *     socat       socat TUN/UDP on both sides (anchors.md B)                  10.246.0.1 -> 10.246.0.2
 *   iperf3 server in B bound to the overlay target (-B: anchors.md's gotcha), client in A bound
 *   to the overlay source. Every round runs every case once (TCP), then every case once (UDP), so
 *   all cases see the same background load; the figures are medians over rounds.
 *
 * Usage: node dist/bench/e2e.js [--seconds 5] [--rounds 3] [--mtu 1500]
 *          [--cases kernel,weft-batch,weft-dgram,weft-udp,socat] [--no-udp] [--json PATH]
 * Needs root, iperf3 and socat. Both tunnel ends and iperf3 share the machine's CPUs.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import {
  addKernelFlannelPeer,
  Cleanup,
  createUnderlay,
  ping,
  requireRoot,
  setupKernelFlannel,
  sleep,
  startSocatTun,
  startWeftLink,
  uniqueName,
  waitFor,
  type Underlay,
} from '../test/helpers/netns';

/** CASES lists every case the benchmark knows, in print order. */
const CASES = ['kernel', 'weft-batch', 'weft-dgram', 'weft-udp', 'socat'] as const;
type CaseName = (typeof CASES)[number];

interface Options {
  seconds: number;
  rounds: number;
  mtu: number;
  cases: CaseName[];
  udp: boolean;
  json: string | null;
}

interface Topology {
  name: CaseName;
  u: Underlay;
  /** Overlay source (client bind) and destination (server bind). */
  src: string;
  dst: string;
}

interface Sample {
  tcpGbps: number[];
  udpKpps: number[];
  udpLoss: number[];
  errors: string[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = { seconds: 5, rounds: 3, mtu: 1500, cases: [...CASES], udp: true, json: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === '--seconds') o.seconds = Number(v());
    else if (a === '--rounds') o.rounds = Number(v());
    else if (a === '--mtu') o.mtu = Number(v());
    else if (a === '--no-udp') o.udp = false;
    else if (a === '--json') o.json = v();
    else if (a === '--cases') {
      const list = v().split(',');
      for (const c of list)
        if (!(CASES as readonly string[]).includes(c)) throw new Error(`unknown case ${c}`);
      o.cases = list as CaseName[];
    } else throw new Error(`unknown argument ${a}; see the comment at the top of bench/e2e.ts`);
  }
  if (!(o.seconds > 0) || !(o.rounds >= 1) || !(o.mtu >= 576))
    throw new Error('bad --seconds/--rounds/--mtu');
  return o;
}

/** setupCase builds one topology and starts an iperf3 server on its overlay target. */
async function setupCase(name: CaseName, c: Cleanup, mtu: number): Promise<Topology> {
  const u = createUnderlay(c, mtu);
  let src = '10.244.0.1';
  let dst = '10.244.1.1';
  if (name === 'kernel') {
    const ka = setupKernelFlannel(u.a, {
      local: u.aIp,
      underlayDev: u.aDev,
      subnet: '10.244.0.0/24',
      underlayMtu: mtu,
    });
    const kb = setupKernelFlannel(u.b, {
      local: u.bIp,
      underlayDev: u.bDev,
      subnet: '10.244.1.0/24',
      underlayMtu: mtu,
    });
    addKernelFlannelPeer(u.a, ka, { subnet: '10.244.1.0/24', mac: kb.mac, publicIp: u.bIp });
    addKernelFlannelPeer(u.b, kb, { subnet: '10.244.0.0/24', mac: ka.mac, publicIp: u.aIp });
  } else if (name === 'socat') {
    const dev = uniqueName('st');
    await startSocatTun(u.b, {
      dev,
      address: '10.246.0.2/24',
      local: u.bIp,
      remote: u.aIp,
      port: 8285,
      mtu: mtu - 28,
    });
    await startSocatTun(u.a, {
      dev,
      address: '10.246.0.1/24',
      local: u.aIp,
      remote: u.bIp,
      port: 8285,
      mtu: mtu - 28,
    });
    src = '10.246.0.1';
    dst = '10.246.0.2';
  } else {
    const backend = name === 'weft-udp' ? 'udp' : 'vxlan';
    const io = name === 'weft-dgram' ? 'dgram' : 'batch';
    const macA = '0e:00:00:00:0a:01';
    const macB = '0e:00:00:00:0b:02';
    const m = (x: string): string => (backend === 'vxlan' ? `,${x}` : '');
    const args = ['--backend', backend, '--io', io];
    await startWeftLink(u.a, [
      ...args, '--dev', uniqueName('wa'), '--local', u.aIp, '--address', `${src}/32`, '--vtep-mac', macA,
      '--peer', `10.244.1.0/24=${u.bIp}${m(macB)}`,
    ]); // prettier-ignore
    await startWeftLink(u.b, [
      ...args, '--dev', uniqueName('wb'), '--local', u.bIp, '--address', `${dst}/32`, '--vtep-mac', macB,
      '--peer', `10.244.0.0/24=${u.aIp}${m(macA)}`,
    ]); // prettier-ignore
  }
  if (name === 'kernel') {
    src = '10.244.0.1';
    dst = '10.244.1.1';
  }
  const r = ping(u.a, dst, { source: src });
  if (r.received === 0) throw new Error(`${name}: overlay does not forward: ${r.output}`);
  const srv = u.b.spawn(`iperf3 -s ${name}`, 'iperf3', ['-s', '-p', '5201', '-B', dst]);
  await waitFor(
    () => u.b.exec('ss', ['-Htln', 'sport = :5201']).includes(':5201'),
    5000,
    `iperf3 server (${name})`,
    () => srv.log,
  );
  return { name, u, src, dst };
}

function execAsync(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (_err, stdout) => resolve(stdout));
  });
}

interface IperfEnd {
  error?: string;
  end?: {
    sum_received?: { bits_per_second?: number; packets?: number; lost_packets?: number; seconds?: number };
    sum?: { packets?: number; lost_packets?: number; seconds?: number; lost_percent?: number };
  };
}

/** iperf runs one iperf3 client in A; returns the parsed JSON (check `.error`: iperf3 exits 0 on some failures). */
async function iperf(t: Topology, seconds: number, udp: boolean): Promise<IperfEnd> {
  const args = [
    'netns',
    'exec',
    t.u.a.name,
    'iperf3',
    '-c',
    t.dst,
    '-p',
    '5201',
    '-B',
    t.src,
    '-t',
    String(seconds),
    '-J',
  ];
  if (udp) args.push('-u', '-l', '64', '-b', '0');
  const out = await execAsync('ip', args, (seconds + 20) * 1000);
  try {
    return JSON.parse(out) as IperfEnd;
  } catch {
    return { error: `unparsable iperf3 output: ${out.slice(0, 200)}` };
  }
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function fmt(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '-';
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  requireRoot();
  const c = new Cleanup();
  const onSignal = (): void => {
    void c.run().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const samples = new Map<CaseName, Sample>();
  try {
    const tops: Topology[] = [];
    for (const name of o.cases) {
      tops.push(await setupCase(name, c, o.mtu));
      samples.set(name, { tcpGbps: [], udpKpps: [], udpLoss: [], errors: [] });
    }
    process.stderr.write(
      `e2e: ${o.cases.join(', ')}; ${o.rounds} rounds x ${o.seconds} s, underlay MTU ${o.mtu}\n`,
    );
    for (let r = 0; r < o.rounds; r++) {
      for (const t of tops) {
        const j = await iperf(t, o.seconds, false);
        const s = samples.get(t.name)!;
        const bps = j.end?.sum_received?.bits_per_second;
        if (j.error || bps === undefined) s.errors.push(`tcp: ${j.error ?? 'no result'}`);
        else s.tcpGbps.push(bps / 1e9);
        process.stderr.write(
          `  round ${r + 1} tcp ${t.name}: ${bps !== undefined ? (bps / 1e9).toFixed(2) : 'error'} Gbit/s\n`,
        );
        await sleep(300);
      }
      if (!o.udp) continue;
      for (const t of tops) {
        const j = await iperf(t, o.seconds, true);
        const s = samples.get(t.name)!;
        const sum = j.end?.sum_received ?? j.end?.sum;
        if (j.error || sum?.packets === undefined || !sum.seconds) {
          s.errors.push(`udp: ${j.error ?? 'no result'}`);
        } else {
          const rx = (sum.packets - (sum.lost_packets ?? 0)) / sum.seconds;
          s.udpKpps.push(rx / 1000);
          s.udpLoss.push((100 * (sum.lost_packets ?? 0)) / Math.max(1, sum.packets));
        }
        process.stderr.write(
          `  round ${r + 1} udp ${t.name}: ${fmt(s.udpKpps[s.udpKpps.length - 1] ?? NaN, 1)} kpps\n`,
        );
        await sleep(300);
      }
    }
  } finally {
    await c.run();
  }

  const kernelTcp = median(samples.get('kernel')?.tcpGbps ?? []);
  const kernelUdp = median(samples.get('kernel')?.udpKpps ?? []);
  const rows = o.cases.map((name) => {
    const s = samples.get(name)!;
    const tcp = median(s.tcpGbps);
    const udp = median(s.udpKpps);
    return {
      case: name,
      tcpGbps: tcp,
      tcpMin: Math.min(...s.tcpGbps),
      tcpMax: Math.max(...s.tcpGbps),
      tcpRatio: tcp / kernelTcp,
      udpKpps: udp,
      udpRatio: udp / kernelUdp,
      udpLossPct: median(s.udpLoss),
      errors: s.errors,
    };
  });
  const lines = [
    `| case | TCP Gbit/s median [min-max] | vs kernel | 64 B UDP kpps received | vs kernel | UDP loss % |`,
    `|---|---|---|---|---|---|`,
    ...rows.map(
      (r) =>
        `| ${r.case} | ${fmt(r.tcpGbps, 2)} [${fmt(r.tcpMin, 2)}-${fmt(r.tcpMax, 2)}] | ${fmt(r.tcpRatio, 3)} | ` +
        `${fmt(r.udpKpps, 1)} | ${fmt(r.udpRatio, 3)} | ${fmt(r.udpLossPct, 1)} |`,
    ),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  for (const r of rows)
    if (r.errors.length) process.stdout.write(`${r.case} errors: ${r.errors.join('; ')}\n`);
  const batch = rows.find((r) => r.case === 'weft-batch');
  for (const other of ['socat', 'weft-dgram'] as const) {
    const x = rows.find((r) => r.case === other);
    if (batch && x) {
      process.stdout.write(
        `weft-batch vs ${other}: TCP x${fmt(batch.tcpGbps / x.tcpGbps, 2)}, 64 B UDP x${fmt(batch.udpKpps / x.udpKpps, 2)}\n`,
      );
    }
  }
  if (o.json) {
    const record = {
      date: new Date().toISOString(),
      command: `node dist/bench/e2e.js ${process.argv.slice(2).join(' ')}`.trim(),
      machine: {
        cpus: os.cpus().length,
        model: os.cpus()[0]?.model,
        kernel: os.release(),
        node: process.version,
      },
      options: o,
      rows,
    };
    fs.writeFileSync(o.json, JSON.stringify(record, null, 2));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`e2e: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});

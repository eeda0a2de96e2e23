/**
 * netns: what the namespace tests add to the lab harness in src/testing/ (namespaces, veth,
 * processes, cleanup by PID, the kernel flannel VTEP, `weft link`), which this module re-exports:
 * the root check, the kernel-vs-weft testbed, ping and a hashed TCP transfer (and its assertion).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { Cleanup } from '../../src/testing/cleanup';
import { addKernelFlannelPeer, setupKernelFlannel, type KernelVtep } from '../../src/testing/kernel-flannel';
import { createUnderlay, type Netns, type Underlay } from '../../src/testing/netns';
import type { Proc } from '../../src/testing/proc';
import { uniqueName, waitFor } from '../../src/testing/shell';
import { isRoot } from '../../src/testing/tools';
import { startWeftLink, type WeftLink } from '../../src/testing/weft-link';

export { REPO_ROOT, WEFT_BIN } from './paths';
export { Cleanup, cleanupFor } from '../../src/testing/cleanup';
export * from '../../src/testing/kernel-flannel';
export * from '../../src/testing/netns';
export { Proc } from '../../src/testing/proc';
export { sh as run, sleep, uniqueName, waitFor } from '../../src/testing/shell';
export * from '../../src/testing/weft-link';

/** requireRoot throws (failing the test loudly) unless running as root, which these tests need. */
export function requireRoot(): void {
  if (!isRoot()) {
    throw new Error('this test needs root (network namespaces, veth, TUN, kernel VXLAN); CI runs as root');
  }
}

/** KernelVsWeft is the kernel-vs-weft testbed: flannel's kernel VTEP in `u.a`, weft's side in `u.b`. */
export interface KernelVsWeft {
  u: Underlay;
  /** The kernel VTEP in `u.a` for 10.244.0.0/24 (pod stand-in `k.podIp` = 10.244.0.1). */
  k: KernelVtep;
}

/**
 * setupKernelVsWeft builds an underlay, flannel's kernel VTEP for 10.244.0.0/24 in `u.a` at the
 * kernel's default offloads (so its inner TCP/UDP checksums reach weft partial: over veth nothing
 * completes a CHECKSUM_PARTIAL skb on the way) and 10.244.1.1/32 on `u.b`'s lo as the pod stand-in
 * behind the weft node that startWeftVsKernel later starts in `u.b`. `remcsum` gives the kernel
 * VTEP VXLAN RCO both ways (`remcsumtx remcsumrx`). Offloads are never changed: users keep them.
 */
export function setupKernelVsWeft(cleanup: Cleanup, o: { remcsum?: boolean } = {}): KernelVsWeft {
  const u = createUnderlay(cleanup);
  const k = setupKernelFlannel(u.a, {
    local: u.aIp,
    underlayDev: u.aDev,
    subnet: '10.244.0.0/24',
    underlayMtu: u.mtu,
    remcsum: o.remcsum,
  });
  u.b.ip('addr', 'add', '10.244.1.1/32', 'dev', 'lo');
  return { u, k };
}

/**
 * startWeftVsKernel starts `weft link --backend vxlan` for 10.244.1.0/24 in `u.b` (device name from
 * `devPrefix`, plus `extra` flags) peered with the kernel VTEP, then installs weft as a peer on the
 * kernel side the way flannel does (addKernelFlannelPeer).
 */
export async function startWeftVsKernel(
  { u, k }: KernelVsWeft,
  devPrefix: string,
  extra: string[] = [],
): Promise<{ proc: Proc; mac: string; startLine: string }> {
  const w = await startWeftLink(u.b, [
    '--backend', 'vxlan', '--dev', uniqueName(devPrefix), '--local', u.bIp, '--address', '10.244.1.0/32',
    '--peer', `10.244.0.0/24=${u.aIp},${k.mac}`, ...extra,
  ]); // prettier-ignore
  if (w.mac === null) throw new Error(`weft vxlan printed no VTEP MAC: ${w.startLine}`);
  addKernelFlannelPeer(u.a, k, { subnet: '10.244.1.0/24', mac: w.mac, publicIp: u.bIp });
  return { proc: w.proc, mac: w.mac, startLine: w.startLine };
}

/** PAIR_MAC_A / PAIR_MAC_B are the VTEP MACs of startWeftPair's nodes (VXLAN). */
export const PAIR_MAC_A = '0e:00:00:00:0a:01';
export const PAIR_MAC_B = '0e:00:00:00:0b:02';

/** WeftPair is two `weft link` nodes peered over an underlay, and their TUN device names. */
export interface WeftPair {
  a: WeftLink;
  b: WeftLink;
  devA: string;
  devB: string;
}

/**
 * startWeftPair starts `weft link` in `u.a` (10.244.0.1/32, TUN named from `devPrefix` + a) and
 * `u.b` (`bAddress`, default 10.244.1.1/32), each the other's peer for its /24 (`backend` vxlan:
 * with VTEP MACs PAIR_MAC_A / PAIR_MAC_B; udp: flannel-UDP), with `flags` on both and `aFlags` /
 * `bFlags` on one.
 */
export async function startWeftPair(
  u: Underlay,
  o: {
    backend?: 'vxlan' | 'udp';
    flags?: string[];
    aFlags?: string[];
    bFlags?: string[];
    devPrefix?: string;
    /** B's TUN address (`--address`), e.g. 10.244.1.0/32 when a pod behind B owns 10.244.1.1. */
    bAddress?: string;
  } = {},
): Promise<WeftPair> {
  const backend = o.backend ?? 'vxlan';
  const vxlan = backend === 'vxlan';
  const devA = uniqueName(`${o.devPrefix ?? 'w'}a`);
  const devB = uniqueName(`${o.devPrefix ?? 'w'}b`);
  const a = await startWeftLink(u.a, [
    '--backend', backend, '--dev', devA, '--local', u.aIp, '--address', '10.244.0.1/32',
    ...(vxlan ? ['--vtep-mac', PAIR_MAC_A] : []), '--peer', `10.244.1.0/24=${u.bIp}${vxlan ? `,${PAIR_MAC_B}` : ''}`,
    ...(o.flags ?? []), ...(o.aFlags ?? []),
  ]); // prettier-ignore
  const b = await startWeftLink(u.b, [
    '--backend', backend, '--dev', devB, '--local', u.bIp, '--address', o.bAddress ?? '10.244.1.1/32',
    ...(vxlan ? ['--vtep-mac', PAIR_MAC_B] : []), '--peer', `10.244.0.0/24=${u.aIp}${vxlan ? `,${PAIR_MAC_A}` : ''}`,
    ...(o.flags ?? []), ...(o.bFlags ?? []),
  ]); // prettier-ignore
  return { a, b, devA, devB };
}

/** PingResult is ping's summary line. */
export interface PingResult {
  transmitted: number;
  received: number;
  output: string;
}

/**
 * ping sends `count` ICMP echoes from `ns` to `dst` (optionally from `source`) and returns the
 * counts; it never throws on loss, only when ping did not send all `count` echoes.
 */
export function ping(
  ns: Netns,
  dst: string,
  o: { count?: number; source?: string; size?: number } = {},
): PingResult {
  const count = o.count ?? 3;
  const args = ['-n', '-c', String(count), '-i', '0.2', '-W', '2'];
  if (o.source) args.push('-I', o.source);
  if (o.size !== undefined) args.push('-s', String(o.size));
  args.push(dst);
  let output: string;
  try {
    output = execFileSync('ip', ['netns', 'exec', ns.name, 'ping', ...args], {
      encoding: 'utf8',
      timeout: 30_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    output = `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
  // No summary means ping never ran (missing, bad address): 0 of 0 must not read as "no loss".
  const m = /(\d+) packets transmitted, (\d+) received/.exec(output);
  if (!m || Number(m[1]) !== count)
    throw new Error(`ping ${dst} in ${ns.name} did not send ${count} echoes: ${output}`);
  return { transmitted: count, received: Number(m[2]), output };
}

/** TransferResult describes one TCP transfer: sizes and SHA-256 on each end. */
export interface TransferResult {
  bytesSent: number;
  bytesReceived: number;
  sha256Sent: string;
  sha256Received: string;
  ms: number;
}

/**
 * tcpTransfer sends `bytes` random bytes over TCP from `client` to `server` listening on
 * `addr:port` (socat on both ends; optional client `bind` source address) and hashes the data on
 * both ends with SHA-256. It resolves when the server has seen EOF.
 */
export async function tcpTransfer(
  server: Netns,
  client: Netns,
  o: { addr: string; port?: number; bytes?: number; bind?: string; timeoutMs?: number },
): Promise<TransferResult> {
  const port = o.port ?? 5001;
  // IPv6 addresses: socat's TCP6 addresses, with the address in brackets.
  const v6 = o.addr.includes(':');
  const tcp = v6 ? 'TCP6' : 'TCP';
  const host = v6 ? `[${o.addr}]` : o.addr;
  const bind = o.bind === undefined ? '' : `,bind=${o.bind.includes(':') ? `[${o.bind}]` : o.bind}`;
  const data = randomBytes(o.bytes ?? 20 * 1024 * 1024);
  const sha256Sent = createHash('sha256').update(data).digest('hex');
  const t0 = Date.now();
  const srv = server.spawn(
    `socat-srv ${server.name}`,
    'socat',
    ['-u', `${tcp}-LISTEN:${port},bind=${host},reuseaddr`, 'STDOUT'],
    { captureStdout: false },
  );
  const hash = createHash('sha256');
  let bytesReceived = 0;
  srv.child.stdout!.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytesReceived += chunk.length;
  });
  const srvEnd = new Promise<void>((resolve) => srv.child.stdout!.on('end', () => resolve()));
  await waitFor(
    () => server.exec('ss', ['-Htln', `sport = :${port}`]).includes(`:${port}`),
    5000,
    `socat listening on ${o.addr}:${port}`,
    () => srv.log,
  );
  const cli = client.spawn(`socat-cli ${client.name}`, 'socat', [
    '-u',
    'STDIN',
    `${tcp}:${host}:${port}${bind},connect-timeout=5`,
  ]);
  cli.child.stdin!.end(data);
  const timeoutMs = o.timeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `TCP transfer to ${o.addr}:${port} did not finish in ${timeoutMs} ms (received ${bytesReceived} of ${data.length}); client: ${cli.log}; server: ${srv.log}`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    const [cliCode] = await Promise.race([Promise.all([cli.exited, srvEnd, srv.exited]), timeout]);
    if (cliCode !== 0) throw new Error(`socat client exited ${cliCode}: ${cli.log}`);
  } finally {
    clearTimeout(timer);
    await cli.stop(500);
    await srv.stop(500);
  }
  return {
    bytesSent: data.length,
    bytesReceived,
    sha256Sent,
    sha256Received: hash.digest('hex'),
    ms: Date.now() - t0,
  };
}

/**
 * assertTcpTransfer is tcpTransfer followed by the check every transfer test makes: every byte
 * arrived and the SHA-256 of what arrived is that of what was sent. Returns the result.
 */
export async function assertTcpTransfer(
  server: Netns,
  client: Netns,
  o: Parameters<typeof tcpTransfer>[2],
): Promise<TransferResult> {
  const r = await tcpTransfer(server, client, o);
  const what = `TCP ${client.name} -> ${o.addr}:${o.port ?? 5001}`;
  assert.equal(r.bytesReceived, r.bytesSent, `${what}: bytes received`);
  assert.equal(r.sha256Received, r.sha256Sent, `${what}: SHA-256`);
  return r;
}

/**
 * UDP_BURST_SCRIPT: `recv ADDR PORT COUNT` receives up to COUNT datagrams (gives up after 3 s of
 * silence) and prints `count sha256`; `send ADDR PORT COUNT SRC SIZE BURST GAP_MS` sends COUNT
 * datagrams of SIZE bytes (a 4-byte sequence number, then seeded random bytes) in bursts of BURST
 * back to back with GAP_MS between bursts, and prints the same of what it sent. The hash is over
 * the datagrams in order, so loss, damage and reordering all show.
 */
const UDP_BURST_SCRIPT = [
  'import hashlib, random, socket, struct, sys, time',
  'mode, addr, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])',
  "s = socket.socket(socket.AF_INET6 if ':' in addr else socket.AF_INET, socket.SOCK_DGRAM)",
  'h = hashlib.sha256(); n = 0',
  "if mode == 'recv':",
  '  s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE: the app asks, as root',
  '  s.bind((addr, port)); s.settimeout(3)',
  "  print('ready', flush=True)",
  '  try:',
  '    while n < count:',
  '      d = s.recv(65535); h.update(d); n += 1',
  '  except socket.timeout: pass',
  'else:',
  '  size, burst, gap = int(sys.argv[6]), int(sys.argv[7]), float(sys.argv[8]) / 1000',
  '  s.bind((sys.argv[5], 0)); rnd = random.Random(16)',
  '  for i in range(count):',
  "    d = struct.pack('!I', i) + rnd.randbytes(size - 4); h.update(d); n += 1; s.sendto(d, (addr, port))",
  '    if (i + 1) % burst == 0: time.sleep(gap)',
  'print(n, h.hexdigest(), flush=True)',
].join('\n');

/** UdpBurstResult is `count sha256` as each end printed it. */
export interface UdpBurstResult {
  sent: string;
  received: string;
}

/**
 * udpBurstTransfer sends `count` datagrams of `size` bytes from `client` (bound to `src`) to
 * `addr:port` in `server`, in back-to-back bursts (default 32) with `gapMs` (default 2) between
 * them, so a tunnel sees many small packets queued at once; each end hashes what it saw, in order.
 */
export async function udpBurstTransfer(
  server: Netns,
  client: Netns,
  o: { addr: string; src: string; port: number; count: number; size: number; burst?: number; gapMs?: number },
): Promise<UdpBurstResult> {
  const rx = server.spawn(`udp-recv ${server.name}`, 'python3', [
    '-c', UDP_BURST_SCRIPT, 'recv', o.addr, String(o.port), String(o.count),
  ]); // prettier-ignore
  await waitFor(
    () => rx.log.includes('ready'),
    5000,
    `UDP receiver on ${o.addr}:${o.port}`,
    () => rx.log,
  );
  const sent = client.exec('python3', [
    '-c', UDP_BURST_SCRIPT, 'send', o.addr, String(o.port), String(o.count), o.src, String(o.size),
    String(o.burst ?? 32), String(o.gapMs ?? 2),
  ]); // prettier-ignore
  await rx.exited;
  return { sent: sent.trim(), received: rx.log.trim().split('\n').pop() ?? '' };
}

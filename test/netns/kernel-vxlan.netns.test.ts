/**
 * weft <-> the Linux kernel's VXLAN, configured exactly as flannel's vxlan backend does it and left
 * at the kernel's default offloads:
 *
 *   ns A (kernel flannel)                              ns B (weft)
 *   flannel.1  vxlan id 1 dstport 8472 nolearning       weft link --backend vxlan (TUN, no L2)
 *              10.244.0.0/32, MTU 1450                    10.244.1.0/32, MTU 1450
 *   lo         10.244.0.1/32 (stands in for cni0)       lo 10.244.1.1/32
 *   route 10.244.1.0/24 via 10.244.1.0 onlink           route 10.244.0.0/24 -> TUN
 *   neigh 10.244.1.0 lladdr <weft MAC> permanent        --peer 10.244.0.0/24=192.0.2.1,<flannel.1 MAC>
 *   fdb   <weft MAC> dst 192.0.2.2
 *   veth 192.0.2.1  <================ UDP 8472 ================>  veth 192.0.2.2
 *
 * weft's TUN has no MAC of its own, so the kernel side's neighbour and FDB entries use the VTEP
 * MAC weft prints on start (random, locally administered), and weft addresses the kernel's frames
 * to flannel.1's MAC.
 *
 * At the defaults, over veth, the kernel's inner TCP/UDP checksums arrive partial (the field holds
 * only the pseudo-header sum; CHECKSUM_PARTIAL survives the namespace boundary). weft must complete
 * them (or hand them to its TUN marked NEEDS_CSUM) in every I/O mode: ping, SHA-256-checked TCP
 * both ways and UDP datagrams, with `stats().ingress.partialCsum` showing the work. Complete
 * checksums from the kernel node, as a raw socket or a TUN-based pod (a VPN) writes them, must pass
 * untouched; no test changes the kernel node's offloads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertTcpTransfer,
  cleanupFor,
  createUnderlay,
  Netns,
  ping,
  readWeftStats,
  requireRoot,
  setupKernelVsWeft,
  startWeftLink,
  startWeftVsKernel,
  uniqueName,
  type Proc,
  type Underlay,
  type WeftStats,
} from '../helpers/netns';

const MODES: ReadonlyArray<{ name: string; flags: string[] }> = [
  { name: '--io batch (offloads)', flags: [] },
  { name: '--io batch --offload off', flags: ['--offload', 'off'] },
  { name: '--io dgram', flags: ['--io', 'dgram'] },
  { name: '--workers 2', flags: ['--workers', '2'] },
];

/** UDP_SCRIPT receives (argv: bind addr, port, count) or sends datagrams; prints count and SHA-256. */
const UDP_SCRIPT = [
  'import hashlib, socket, sys, os, random, time',
  'mode, addr, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])',
  "s = socket.socket(socket.AF_INET6 if ':' in addr else socket.AF_INET, socket.SOCK_DGRAM)",
  'h = hashlib.sha256(); n = 0',
  "if mode == 'recv':",
  '  s.bind((addr, port)); s.settimeout(5)',
  '  try:',
  '    while n < count:',
  '      d = s.recv(65535); h.update(d); n += 1',
  '  except socket.timeout: pass',
  'else:',
  '  s.bind((sys.argv[5], 0)); rnd = random.Random(7)',
  '  for i in range(count):',
  '    d = os.urandom(rnd.randint(1, 1400)); h.update(d); n += 1; s.sendto(d, (addr, port)); time.sleep(0.002)',
  'print(n, h.hexdigest(), flush=True)',
].join('\n');

/** udpDatagrams sends `count` random datagrams from `client` (bound to `src`) to addr:port in `server`. */
async function udpDatagrams(
  server: Netns,
  client: Netns,
  o: { addr: string; src: string; port: number; count: number },
): Promise<{ sent: string; received: string }> {
  const rx = server.spawn(`udp-recv ${server.name}`, 'python3', [
    '-c', UDP_SCRIPT, 'recv', o.addr, String(o.port), String(o.count),
  ]); // prettier-ignore
  await new Promise((r) => setTimeout(r, 300));
  const sent = client.exec('python3', [
    '-c',
    UDP_SCRIPT,
    'send',
    o.addr,
    String(o.port),
    String(o.count),
    o.src,
  ]);
  await rx.exited;
  return { sent: sent.trim(), received: rx.log.trim().split('\n').pop() ?? '' };
}

/** assertUdpDatagrams is udpDatagrams, asserting that every datagram arrived intact (`what` says which way). */
async function assertUdpDatagrams(
  server: Netns,
  client: Netns,
  o: { addr: string; src: string; port: number; count: number },
  what: string,
): Promise<void> {
  const d = await udpDatagrams(server, client, o);
  assert.equal(d.received, d.sent, `${what} UDP datagrams, count and SHA-256`);
}

function partial(s: WeftStats): number {
  const p = s.ingress.partialCsum;
  return p === undefined ? 0 : p.completed + p.needsCsum;
}

for (const mode of MODES) {
  test(`weft vxlan (${mode.name}) <-> flannel-style kernel flannel.1 at default offloads: ping, TCP and UDP both ways`, async (t) => {
    requireRoot();
    const c = cleanupFor(t);
    const { u, k } = setupKernelVsWeft(c);
    const w = await startWeftVsKernel({ u, k }, 'wk', mode.flags);
    // flannel's pkg/mac: random, locally administered (bit 1 set), unicast (bit 0 clear).
    const first = parseInt(w.mac.slice(0, 2), 16);
    assert.equal(first & 0x03, 0x02, `VTEP MAC ${w.mac} must be locally administered unicast`);
    assert.match(
      u.a.ip('neigh', 'show', 'dev', 'flannel.1'),
      new RegExp(`10\\.244\\.1\\.0 lladdr ${w.mac} PERMANENT`),
    );

    // kernel -> weft: to the pod stand-in and to weft's TUN address; weft -> kernel likewise.
    for (const [from, dst, source] of [
      [u.a, '10.244.1.1', k.podIp],
      [u.a, '10.244.1.0', undefined],
      [u.b, '10.244.0.1', undefined],
      [u.b, '10.244.0.0', '10.244.1.1'],
    ] as const) {
      const r = ping(from, dst, { source });
      assert.equal(r.received, r.transmitted, `${from.name} -> ${dst}: ${r.output}`);
    }
    const big = ping(u.a, '10.244.1.1', { count: 2, size: 1450 - 28, source: k.podIp });
    assert.equal(big.received, 2, big.output);

    const bytes = 8 << 20;
    await assertTcpTransfer(u.b, u.a, { addr: '10.244.1.1', bind: k.podIp, bytes, timeoutMs: 30_000 });
    await assertTcpTransfer(u.a, u.b, {
      addr: '10.244.0.1',
      bind: '10.244.1.1',
      port: 5002,
      bytes,
      timeoutMs: 30_000,
    });

    // UDP: the kernel's inner UDP checksums are partial too.
    await assertUdpDatagrams(
      u.b,
      u.a,
      { addr: '10.244.1.1', src: k.podIp, port: 6001, count: 200 },
      'kernel -> weft',
    );
    await assertUdpDatagrams(
      u.a,
      u.b,
      { addr: '10.244.0.1', src: '10.244.1.1', port: 6002, count: 200 },
      'weft -> kernel',
    );

    const s = await readWeftStats(w.proc);
    // No TCP coalescing is asserted: the kernel's TSO packets cross veth and VXLAN unsegmented
    // (about 1,100 datagrams for these 8 MiB, most of them alone in their batch), so two segments
    // of one flow rarely meet in a batch, and two of up to 64 KiB would not fit in one
    // super-packet. superPacketsOut stays 0 here; the weft <-> weft tests cover merging.
    t.diagnostic(`ingress: ${JSON.stringify(s.ingress)} offload: ${JSON.stringify(s.offload)}`);
    assert.ok(s.ingress.bytes >= bytes, JSON.stringify(s.ingress));
    assert.deepEqual(s.ingressDrops, {}, JSON.stringify(s.ingressDrops));
    // The partial checksums were recognised and completed: at least the UDP datagrams and the
    // data segments of the kernel -> weft transfer (up to 64 KiB each when the kernel coalesced).
    assert.ok(partial(s) >= 200 + bytes / 65536, `partial checksums completed: ${JSON.stringify(s.ingress)}`);
    assert.equal(await w.proc.stop(), 0);
  });
}

/**
 * IPv6 inside the overlay: the kernel side routes fd00:244:1::/64 to weft's VTEP MAC the way it
 * routes IPv4 (neighbour + onlink route), weft routes fd00:244::/64 back to flannel.1. The
 * namespaces keep the kernel's default (IPv6 on).
 */
for (const mode of MODES.slice(0, 3)) {
  test(`weft vxlan (${mode.name}) <-> kernel flannel.1 at default offloads: inner IPv6 TCP and UDP both ways`, async (t) => {
    requireRoot();
    const c = cleanupFor(t);
    const { u, k } = setupKernelVsWeft(c);
    const w = await startWeftVsKernel({ u, k }, 'wk6', [
      ...mode.flags,
      '--peer',
      `fd00:244::/64=${u.aIp},${k.mac}`,
    ]);
    u.a.ip('-6', 'addr', 'add', 'fd00:244::1/128', 'dev', 'lo');
    u.a.ip('-6', 'neigh', 'add', 'fd00:244:1::', 'lladdr', w.mac, 'dev', k.dev, 'nud', 'permanent');
    u.a.ip('-6', 'route', 'add', 'fd00:244:1::/64', 'via', 'fd00:244:1::', 'dev', k.dev, 'onlink');
    u.b.ip('-6', 'addr', 'add', 'fd00:244:1::1/128', 'dev', 'lo');

    const bytes = 4 << 20;
    await assertTcpTransfer(u.b, u.a, {
      addr: 'fd00:244:1::1',
      bind: 'fd00:244::1',
      bytes,
      timeoutMs: 30_000,
    });
    await assertTcpTransfer(u.a, u.b, {
      addr: 'fd00:244::1',
      bind: 'fd00:244:1::1',
      port: 5002,
      bytes,
      timeoutMs: 30_000,
    });
    const v6 = { addr: 'fd00:244:1::1', src: 'fd00:244::1', port: 6001, count: 100 };
    await assertUdpDatagrams(u.b, u.a, v6, 'kernel -> weft IPv6');

    const s = await readWeftStats(w.proc);
    assert.deepEqual(s.ingressDrops, {}, JSON.stringify(s.ingressDrops));
    assert.ok(partial(s) >= 100 + bytes / 65536, `partial checksums completed: ${JSON.stringify(s.ingress)}`);
    assert.equal(await w.proc.stop(), 0);
  });
}

/** CSUM_PY is the Python the crafting scripts share: the folded ones' complement sum, overlay addresses. */
const CSUM_PY = [
  'import hashlib, os, random, socket, struct, sys, time',
  'def csum(b):',
  '  if len(b) % 2: b += bytes(1)',
  "  s = sum(struct.unpack('!%dH' % (len(b) // 2), b))",
  '  while s >> 16: s = (s & 0xffff) + (s >> 16)',
  '  return s',
  "src, dst = socket.inet_aton('10.244.0.1'), socket.inet_aton('10.244.1.1')",
];

/**
 * CRAFT_SCRIPT sends three VXLAN frames from the kernel node's underlay address to weft, each with
 * an inner UDP datagram to 10.244.1.1:7000 (argv: weft MAC, flannel.1 MAC, port; MAC `-` sends
 * flannel-UDP instead): first with a wrong complete checksum, then with a partial one (the
 * pseudo-header sum), then with a correct one.
 */
const CRAFT_SCRIPT = [
  ...CSUM_PY,
  'def frame(payload, mode):',
  '  ulen = 8 + len(payload)',
  "  pseudo = csum(src + dst + struct.pack('!BBH', 0, 17, ulen))",
  "  udp = struct.pack('!HHHH', 40000, 7000, ulen, 0) + payload",
  "  full = (~csum(src + dst + struct.pack('!BBH', 0, 17, ulen) + udp)) & 0xffff or 0xffff",
  "  c = {'wrong': full ^ 0x0101, 'partial': pseudo, 'good': full}[mode]",
  "  udp = udp[:6] + struct.pack('!H', c) + udp[8:]",
  "  ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + ulen, 1, 0x4000, 64, 17, 0, src, dst)",
  "  ip = ip[:10] + struct.pack('!H', (~csum(ip)) & 0xffff) + ip[12:]",
  "  if sys.argv[1] == '-': return ip + udp",
  "  eth = bytes.fromhex(sys.argv[1].replace(':', '')) + bytes.fromhex(sys.argv[2].replace(':', '')) + b'\\x08\\x00'",
  "  return b'\\x08\\x00\\x00\\x00\\x00\\x00\\x01\\x00' + eth + ip + udp",
  's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
  "s.bind(('192.0.2.1', 0))",
  "for mode in ('wrong', 'partial', 'good'):",
  "  s.sendto(frame(mode.encode() * 20, mode), ('192.0.2.2', int(sys.argv[3]))); time.sleep(0.2)",
].join('\n');

/** RECV_SCRIPT prints the first bytes of each datagram received on 10.244.1.1:7000 for 2 s. */
const RECV_SCRIPT = [
  'import socket',
  's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
  "s.bind(('10.244.1.1', 7000)); s.settimeout(2)",
  'try:',
  '  while True: print(s.recv(2000)[:7].decode(), flush=True)',
  'except socket.timeout: pass',
].join('\n');

function udpCsumErrors(ns: Netns): number {
  const m = /UdpInCsumErrors\s+(\d+)/.exec(ns.exec('nstat', ['-az', 'UdpInCsumErrors']));
  return m ? Number(m[1]) : 0;
}

/**
 * assertCraftedChecksums sends CRAFT_SCRIPT's three datagrams (argv `craft`) from `u.a` to the weft
 * node `w` in `u.b`: only the partial and the good one reach the receiver, the kernel behind weft's
 * TUN counts the wrong one, and weft saw exactly one partial checksum.
 */
async function assertCraftedChecksums(u: Underlay, w: Proc, craft: string[]): Promise<void> {
  const before = udpCsumErrors(u.b);
  const rx = u.b.spawn(`udp-recv ${u.b.name}`, 'python3', ['-c', RECV_SCRIPT]);
  await new Promise((r) => setTimeout(r, 300));
  u.a.exec('python3', ['-c', CRAFT_SCRIPT, ...craft]);
  await rx.exited;
  const got = rx.log
    .trim()
    .split('\n')
    .filter((x) => x !== '');
  assert.deepEqual(got, ['partial', 'goodgoo'], `received: ${rx.log}`);
  assert.equal(udpCsumErrors(u.b) - before, 1, 'the kernel behind the TUN counted the bad checksum');
  const s = await readWeftStats(w);
  assert.equal(partial(s), 1, JSON.stringify(s.ingress));
  assert.equal(await w.stop(), 0);
}

for (const mode of MODES.slice(0, 3)) {
  test(`weft vxlan (${mode.name}): a complete but wrong inner checksum is still dropped and counted, a partial one delivered`, async (t) => {
    requireRoot();
    const c = cleanupFor(t);
    const { u, k } = setupKernelVsWeft(c);
    const w = await startWeftVsKernel({ u, k }, 'wkc', mode.flags);
    await assertCraftedChecksums(u, w.proc, [w.mac, k.mac, '8472']);
  });
}

for (const mode of MODES.slice(0, 3)) {
  test(`weft flannel-UDP (${mode.name}): partial inner checksums are completed, wrong ones still dropped`, async (t) => {
    requireRoot();
    const c = cleanupFor(t);
    const u = createUnderlay(c);
    u.b.ip('addr', 'add', '10.244.1.1/32', 'dev', 'lo');
    const w = await startWeftLink(u.b, [
      '--backend', 'udp', '--dev', uniqueName('wuc'), '--local', u.bIp, '--address', '10.244.1.0/32',
      '--peer', `10.244.0.0/24=${u.aIp}`, ...mode.flags,
    ]); // prettier-ignore
    await assertCraftedChecksums(u, w.proc, ['-', '-', '8285']);
  });
}

/**
 * RAW_SCRIPT writes inner packets with complete checksums into the kernel node's stack the way a
 * raw-socket sender does (IP_HDRINCL: the kernel leaves the L4 checksum as written), routed into
 * flannel.1 like any pod traffic, so they leave the kernel VTEP at its default offloads with the
 * checksum complete. argv: count. It sends `count` UDP datagrams (random, 1-1400 bytes) from
 * 10.244.0.1:40001 to 10.244.1.1:7001, then `count` TCP SYNs carrying 1-1000 bytes to the closed
 * port 10.244.1.1:7002, and prints the datagrams' count and SHA-256 (as UDP_SCRIPT does) and how
 * many RSTs came back acknowledging exactly SYN + payload: the receiving kernel answers only a
 * segment whose checksum verified. A payload whose complete checksum happens to equal the
 * pseudo-header sum (one in 65535, which weft would rightly count as partial) is redrawn.
 */
const RAW_SCRIPT = [
  ...CSUM_PY,
  'count = int(sys.argv[1]); rnd = random.Random(11)',
  'def ip4(proto, l4):',
  "  return struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0, src, dst) + l4",
  'def l4(proto, hdr, payload, at):',
  "  pseudo = csum(src + dst + struct.pack('!BBH', 0, proto, len(hdr) + len(payload)))",
  "  c = (~csum(src + dst + struct.pack('!BBH', 0, proto, len(hdr) + len(payload)) + hdr + payload)) & 0xffff",
  '  if c == 0 and proto == 17: c = 0xffff',
  '  if c % 0xffff == pseudo % 0xffff: return None',
  "  return hdr[:at] + struct.pack('!H', c) + hdr[at + 2:] + payload",
  's = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)',
  'r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP); r.settimeout(2)',
  'h = hashlib.sha256(); acks = set()',
  'for i in range(count):',
  '  while True:',
  '    d = os.urandom(rnd.randint(1, 1400))',
  "    p = l4(17, struct.pack('!HHHH', 40001, 7001, 8 + len(d), 0), d, 6)",
  '    if p: break',
  "  h.update(d); s.sendto(ip4(17, p), ('10.244.1.1', 0)); time.sleep(0.002)",
  'for i in range(count):',
  '  while True:',
  '    d = os.urandom(rnd.randint(1, 1000)); seq = rnd.getrandbits(32)',
  "    p = l4(6, struct.pack('!HHIIBBHHH', 41000 + i, 7002, seq, 0, 5 << 4, 0x02, 65535, 0, 0), d, 16)",
  '    if p: break',
  "  acks.add((41000 + i, (seq + 1 + len(d)) & 0xffffffff)); s.sendto(ip4(6, p), ('10.244.1.1', 0))",
  '  time.sleep(0.002)',
  'rst = 0',
  'try:',
  '  while rst < count:',
  '    b = r.recv(2000); t = b[(b[0] & 15) * 4:]',
  "    sp, dp, _, ack, _, fl = struct.unpack('!HHIIBB', t[:14])",
  '    if b[12:16] == dst and sp == 7002 and fl & 0x04 and (dp, ack) in acks: acks.discard((dp, ack)); rst += 1',
  'except socket.timeout: pass',
  'print(count, h.hexdigest(), rst, flush=True)',
].join('\n');

function tcpCsumErrors(ns: Netns): number {
  const m = /TcpInCsumErrors\s+(\d+)/.exec(ns.exec('nstat', ['-az', 'TcpInCsumErrors']));
  return m ? Number(m[1]) : 0;
}

for (const mode of MODES.slice(0, 3)) {
  test(`weft vxlan (${mode.name}): complete inner checksums from a kernel peer at default offloads pass untouched`, async (t) => {
    requireRoot();
    const c = cleanupFor(t);
    const { u, k } = setupKernelVsWeft(c);
    const w = await startWeftVsKernel({ u, k }, 'wkr', mode.flags);
    const count = 200;
    const errors = { udp: udpCsumErrors(u.b), tcp: tcpCsumErrors(u.b) };
    const rx = u.b.spawn(`udp-recv ${u.b.name}`, 'python3', [
      '-c', UDP_SCRIPT, 'recv', '10.244.1.1', '7001', String(count),
    ]); // prettier-ignore
    await new Promise((r) => setTimeout(r, 300));
    const sent = u.a
      .exec('python3', ['-c', RAW_SCRIPT, String(count)])
      .trim()
      .split(' ');
    await rx.exited;
    const received = rx.log.trim().split('\n').pop() ?? '';
    assert.equal(
      received,
      `${sent[0]} ${sent[1]}`,
      'UDP datagrams with complete checksums, count and SHA-256',
    );
    assert.equal(
      sent[2],
      String(count),
      'every TCP SYN (complete checksum) answered by an RST for SYN + payload',
    );
    assert.equal(udpCsumErrors(u.b) - errors.udp, 0, 'no UDP checksum error behind the TUN');
    assert.equal(tcpCsumErrors(u.b) - errors.tcp, 0, 'no TCP checksum error behind the TUN');
    const s = await readWeftStats(w.proc);
    assert.deepEqual(s.ingressDrops, {}, JSON.stringify(s.ingressDrops));
    assert.ok(s.ingress.packets >= 2 * count, JSON.stringify(s.ingress));
    // Not one of them was taken for partial (none equals its pseudo-header sum, see RAW_SCRIPT).
    assert.equal(partial(s), 0, `complete checksums taken for partial: ${JSON.stringify(s.ingress)}`);
    assert.equal(await w.proc.stop(), 0);
  });
}

/**
 * Forwarding behind weft: a pod namespace hangs off the weft node on a veth with the overlay MTU
 * (as a pod on cni0 does), and the weft node forwards (ip_forward, as on every flannel node). The
 * kernel peer's TSO packets cross veth unsegmented; weft must hand them on so that the weft
 * node's kernel can forward them to the pod in MTU-sized segments.
 */
for (const mode of MODES.slice(0, 3)) {
  test(`weft vxlan (${mode.name}): kernel peer -> weft node -> pod namespace, TCP at default offloads`, async (t) => {
    requireRoot();
    const c = cleanupFor(t);
    const { u, k } = setupKernelVsWeft(c);
    const w = await startWeftVsKernel({ u, k }, 'wkf', mode.flags);
    const pod = Netns.create(c, 'wtp');
    const hostSide = uniqueName('vp');
    const podSide = uniqueName('vq');
    u.b.ip(
      'link',
      'add',
      hostSide,
      'mtu',
      '1450',
      'type',
      'veth',
      'peer',
      'name',
      podSide,
      'netns',
      pod.name,
    );
    u.b.ip('link', 'set', hostSide, 'up');
    pod.ip('link', 'set', podSide, 'mtu', '1450', 'up');
    pod.ip('addr', 'add', '10.244.1.2/32', 'dev', podSide);
    u.b.ip('addr', 'add', '10.244.1.254/32', 'dev', hostSide);
    pod.ip('route', 'add', '10.244.1.254/32', 'dev', podSide);
    pod.ip('route', 'add', '10.244.0.0/16', 'via', '10.244.1.254', 'dev', podSide);
    u.b.ip('route', 'add', '10.244.1.2/32', 'dev', hostSide);
    u.b.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);

    const bytes = 8 << 20;
    await assertTcpTransfer(pod, u.a, { addr: '10.244.1.2', bind: k.podIp, bytes, timeoutMs: 30_000 });
    await assertTcpTransfer(u.a, pod, {
      addr: k.podIp,
      bind: '10.244.1.2',
      port: 5002,
      bytes,
      timeoutMs: 30_000,
    });
    const s = await readWeftStats(w.proc);
    assert.deepEqual(s.ingressDrops, {}, JSON.stringify(s.ingressDrops));
    assert.equal(await w.proc.stop(), 0);
  });
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../../src/errors';
import { NETLINK_CHUNK, netlinkDeps, type NetlinkTransport } from '../../src/io/rtnetlink-deps';
import type { RouteOp } from '../../src/io/route-sync';
import {
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLM_F_EXCL,
  NLM_F_ACK,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  RTM_DELROUTE,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTNH_F_ONLINK,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  nlmsgAlign,
  parseMessages,
  parseRoute,
  writeNlmsghdr,
} from '../../src/wire/rtnetlink';
import { u32ToIpv4 as u32ToIp4 } from '../../src/net/addr';
import { FIXTURES } from '../golden/fixtures';

const LINKS = readFileSync(join(FIXTURES, 'rtnetlink', 'link-dump.bin'));
const ROUTES = readFileSync(join(FIXTURES, 'rtnetlink', 'route-dump.bin'));
const LOOKUPS = readFileSync(join(FIXTURES, 'rtnetlink', 'route-get.bin'));
/** The destinations of route-get.bin, in the order of its sequence numbers (1..6). */
const LOOKED_UP = ['192.0.2.7', '198.51.100.7', '10.244.4.9', '192.0.2.1', '10.244.1.5', '203.0.113.1'];
const ERRNO_TEXT: Record<number, string> = {
  17: 'File exists',
  22: 'Invalid argument',
  3: 'No such process',
  101: 'Network is unreachable',
};

/** withSeq is a captured dump with every message's sequence number set to `seq`. */
function withSeq(dump: Buffer, seq: number): Uint8Array {
  const b = Buffer.from(dump);
  for (let off = 0; off < b.length; off += nlmsgAlign(b.readUInt32LE(off))) b.writeUInt32LE(seq, off + 8);
  return b;
}

function ack(seq: number, errno: number): Buffer {
  const b = Buffer.alloc(NLMSG_HDRLEN + 4 + NLMSG_HDRLEN);
  writeNlmsghdr(b, 0, b.length, NLMSG_ERROR, 0x100, seq);
  b.writeInt32LE(-errno, NLMSG_HDRLEN);
  return b;
}

interface Sent {
  seq: number;
  type: number;
  flags: number;
  dst: string;
  scope: number;
  protocol: number;
  rtmFlags: number;
  gateway?: string;
  oif?: number;
}

/** fakeTransport answers dumps from the captured fixtures and route requests with `answer`. */
function fakeTransport(
  answer: (s: Sent) => number,
  failChunk = -1,
): { t: NetlinkTransport; chunks: Sent[][] } {
  const chunks: Sent[][] = [];
  const t: NetlinkTransport = {
    async transact(request, first, last, dump) {
      const msgs = parseMessages(request);
      if (dump) {
        assert.equal(msgs.length, 1);
        assert.equal(first, last);
        return withSeq(msgs[0]!.type === RTM_GETLINK ? LINKS : ROUTES, first);
      }
      const sent = msgs.map((m) => {
        const r = parseRoute(request, m);
        return {
          seq: m.seq,
          type: m.type,
          flags: m.flags,
          dst: `${u32ToIp4(r.dst)}/${r.dstLen}`,
          scope: r.scope,
          protocol: r.protocol,
          rtmFlags: r.flags,
          ...(r.gateway !== undefined ? { gateway: u32ToIp4(r.gateway) } : {}),
          ...(r.oif !== undefined ? { oif: r.oif } : {}),
        };
      });
      assert.deepEqual(
        sent.map((s) => s.seq),
        Array.from({ length: last - first + 1 }, (_, k) => first + k),
        'consecutive sequence numbers, first..last',
      );
      chunks.push(sent);
      if (chunks.length - 1 === failChunk) throw new Error('recv ETIMEDOUT: Connection timed out (netlink)');
      // The kernel answers in order; reversed here to show the mapping is by sequence number.
      return Buffer.concat(sent.map((s) => ack(s.seq, answer(s))).reverse());
    },
    errnoText: (n) => ERRNO_TEXT[n] ?? `errno ${n}`,
    errnoName: (n) => `E${n}`,
  };
  return { t, chunks };
}

test('runBatch: one message per operation with iproute2 semantics, failures mapped by sequence number', async () => {
  const { t, chunks } = fakeTransport((s) =>
    s.dst === '10.244.9.0/24' ? 17 : s.type === RTM_DELROUTE ? 3 : 0,
  );
  const deps = netlinkDeps(undefined, t);
  const ops: RouteOp[] = [
    { kind: 'del', route: { dst: '10.244.8.0/24', dev: 'v0' } },
    { kind: 'replace', route: { dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'v0', onlink: true } },
    { kind: 'add', route: { dst: '10.244.5.0/24', dev: 'nosuch' } },
    { kind: 'add', route: { dst: '10.244.9.0/24', via: '192.0.2.9' } },
    { kind: 'add', route: { dst: '10.244.10.0/24', dev: 'v1' } },
    { kind: 'add', route: { dst: '10.244.11.0/33', dev: 'v1' } },
  ];
  const out = await deps.runBatch(ops);
  assert.deepEqual(
    [...out.failed].sort((a, b) => a[0] - b[0]),
    [
      [0, 'RTNETLINK answers: No such process'],
      [2, 'Cannot find device "nosuch"'],
      [3, 'RTNETLINK answers: File exists'],
      [5, 'Error: any valid prefix is expected rather than "10.244.11.0/33".'],
    ],
  );
  assert.equal(chunks.length, 1);
  const [del, rep, add, add2] = chunks[0]!;
  assert.equal(chunks[0]!.length, 4, 'operations refused before sending take no sequence number');
  assert.deepEqual(
    [del!.type, del!.scope, del!.protocol, del!.flags & (NLM_F_EXCL | NLM_F_REPLACE)],
    [RTM_DELROUTE, RT_SCOPE_NOWHERE, 87, 0],
  );
  assert.equal(rep!.flags & NLM_F_REPLACE, NLM_F_REPLACE);
  assert.deepEqual(
    [rep!.scope, rep!.rtmFlags, rep!.gateway],
    [RT_SCOPE_UNIVERSE, RTNH_F_ONLINK, '10.244.3.0'],
  );
  assert.equal(add!.flags & NLM_F_EXCL, NLM_F_EXCL);
  assert.equal(add!.oif, undefined);
  assert.deepEqual([add2!.scope, add2!.protocol], [RT_SCOPE_LINK, 87]);
  assert.ok(add2!.oif !== undefined && add2!.oif > 0);
});

test('runBatch: chunks of NETLINK_CHUNK; a chunk the kernel never answered fails alone', async () => {
  const { t, chunks } = fakeTransport(() => 0, 1);
  const deps = netlinkDeps(undefined, t);
  const n = NETLINK_CHUNK * 2 + 10;
  const ops: RouteOp[] = Array.from({ length: n }, (_, i) => ({
    kind: 'add',
    route: { dst: `10.${100 + (i >> 8)}.${i & 255}.0/24`, dev: 'v0' },
  }));
  const out = await deps.runBatch(ops);
  assert.deepEqual(
    chunks.map((c) => c.length),
    [NETLINK_CHUNK, NETLINK_CHUNK, 10],
  );
  assert.equal(out.failed.size, NETLINK_CHUNK);
  for (let i = NETLINK_CHUNK; i < 2 * NETLINK_CHUNK; i++) assert.match(out.failed.get(i)!, /ETIMEDOUT/);
  assert.equal(out.failed.has(NETLINK_CHUNK - 1), false);
  assert.equal(out.failed.has(2 * NETLINK_CHUNK), false);
});

test('listRoutes: the main table of a real dump, as `ip route show` names it, `root` done here', async () => {
  const { t } = fakeTransport(() => 0);
  const deps = netlinkDeps(undefined, t);
  assert.deepEqual(await deps.listRoutes(null), [
    { dst: '10.244.1.0/24', type: 'blackhole' },
    { dst: '10.244.2.0/24', protocol: '87', dev: 'v0' },
    { dst: '10.244.3.0/24', protocol: '87', gateway: '10.244.3.0', dev: 'v0' },
    { dst: '10.244.4.0/24', protocol: 'static', gateway: '192.0.2.9', dev: 'v0' },
    { dst: '192.0.2.0/24', protocol: 'kernel', dev: 'v0' },
    { dst: '198.51.100.7', gateway: '192.0.2.254', dev: 'v0' },
  ]);
  assert.deepEqual(
    (await deps.listRoutes('10.244.2.0/23')).map((r) => r.dst),
    ['10.244.2.0/24', '10.244.3.0/24'],
  );
  assert.deepEqual(
    (await deps.listRoutes('198.51.100.0/24')).map((r) => r.dst),
    ['198.51.100.7'],
  );
});

test('listRoutes: a malformed or refused dump rejects with a typed error', async () => {
  const truncated: NetlinkTransport = {
    async transact(_request, first) {
      return withSeq(ROUTES, first).subarray(0, 50);
    },
    errnoText: String,
    errnoName: String,
  };
  await assert.rejects(netlinkDeps(undefined, truncated).listRoutes(null), FormatError);
  const refused: NetlinkTransport = {
    async transact(_request, first) {
      return ack(first, 1);
    },
    errnoText: () => 'Operation not permitted',
    errnoName: () => 'EPERM',
  };
  await assert.rejects(netlinkDeps(undefined, refused).listRoutes(null), {
    code: 'WEFT_ERR_SYSTEM',
    message: /RTM_GETLINK failed: EPERM: Operation not permitted/,
  });
  // runBatch with a refused link dump: every operation failed with the reason, none sent.
  const out = await netlinkDeps(undefined, refused).runBatch([
    { kind: 'add', route: { dst: '10.244.2.0/24', dev: 'v0' } },
  ]);
  assert.match(out.failed.get(0)!, /Operation not permitted/);
});

/** capturedMessages are route-get.bin's messages, each with its bytes and capture sequence number. */
function capturedMessages(): Array<{ seq: number; bytes: Buffer }> {
  return parseMessages(LOOKUPS).map((m) => {
    const at = m.payload - NLMSG_HDRLEN;
    return { seq: m.seq, bytes: Buffer.from(LOOKUPS.subarray(at, at + nlmsgAlign(m.end - at))) };
  });
}

/**
 * lookupTransport answers link dumps from the fixture and lookups with the kernel's captured
 * answers: the lookup of LOOKED_UP[k] gets what the kernel said to it, under the request's number.
 */
function lookupTransport(failChunk = -1): { t: NetlinkTransport; chunks: string[][] } {
  const captured = capturedMessages();
  const chunks: string[][] = [];
  const t: NetlinkTransport = {
    async transact(request, first, last, dump) {
      if (dump) return withSeq(LINKS, first);
      const msgs = parseMessages(request);
      const dsts = msgs.map((m) => {
        assert.equal(m.type, RTM_GETROUTE);
        assert.equal(m.flags, NLM_F_REQUEST | NLM_F_ACK);
        const r = parseRoute(request, m);
        assert.equal(r.dstLen, 32);
        return u32ToIp4(r.dst);
      });
      assert.deepEqual(
        msgs.map((m) => m.seq),
        Array.from({ length: last - first + 1 }, (_, k) => first + k),
      );
      chunks.push(dsts);
      if (chunks.length - 1 === failChunk)
        throw new Error('recv ENOBUFS: No buffer space available (netlink)');
      const out: Buffer[] = [];
      dsts.forEach((d, k) => {
        const at = LOOKED_UP.indexOf(d) + 1;
        for (const c of captured) {
          if (c.seq !== at) continue;
          const b = Buffer.from(c.bytes);
          b.writeUInt32LE(first + k, 8);
          out.push(b);
        }
      });
      // Reversed: the answers are matched by sequence number, not by position.
      return Buffer.concat(out.reverse());
    },
    errnoText: (n) => ERRNO_TEXT[n] ?? `errno ${n}`,
    errnoName: (n) => `E${n}`,
  };
  return { t, chunks };
}

test('routeGetMany: one lookup per destination, the kernel answers (captured) as `ip -j route get` prints them', async () => {
  const { t, chunks } = lookupTransport();
  const printed = readFileSync(join(FIXTURES, 'rtnetlink', 'route-get.txt'), 'utf8')
    .trimEnd()
    .split('\n');
  const asked = [...LOOKED_UP.slice(0, 3), 'no.such.address', ...LOOKED_UP.slice(3)];
  const got = await netlinkDeps(undefined, t).routeGetMany(asked);
  assert.deepEqual(chunks, [LOOKED_UP], 'a bad address is never sent');
  const want = printed.map((line) =>
    line.startsWith('[')
      ? (JSON.parse(line) as Array<Record<string, unknown>>).map((r) => {
          const keys = ['type', 'dst', 'gateway', 'dev', 'prefsrc'].filter((k) => k in r);
          return Object.fromEntries(keys.map((k) => [k, r[k]]));
        })
      : line,
  );
  want.splice(3, 0, 'Error: any valid prefix is expected rather than "no.such.address".');
  assert.deepEqual(got, want);
  // What DirectRouting reads: one route without a gateway for a connected address only.
  assert.equal(typeof got[0] !== 'string' && got[0]!.length === 1 && got[0]![0]!.gateway, undefined);
  assert.equal(typeof got[1] !== 'string' && got[1]![0]!.gateway, '192.0.2.254');
});

test('routeGetMany: chunks of NETLINK_CHUNK, a chunk the kernel never answered fails alone, a lost answer is named', async () => {
  const { t, chunks } = lookupTransport(1);
  const n = NETLINK_CHUNK * 2 + 3;
  const asked = Array.from({ length: n }, (_, i) => LOOKED_UP[i % 2]!);
  const got = await netlinkDeps(undefined, t).routeGetMany(asked);
  assert.deepEqual(
    chunks.map((c) => c.length),
    [NETLINK_CHUNK, NETLINK_CHUNK, 3],
  );
  for (let i = 0; i < n; i++) {
    if (i >= NETLINK_CHUNK && i < 2 * NETLINK_CHUNK) assert.match(String(got[i]), /ENOBUFS/);
    else {
      const a = got[i]!;
      assert.ok(typeof a !== 'string' && a[0]!.dev === 'v0', `answer ${i}: ${JSON.stringify(a)}`);
    }
  }
  // A reply without an ack for a lookup (a kernel that lost it): that lookup says so, no guess.
  const silent: NetlinkTransport = {
    ...t,
    transact: async (_r, first, _l, dump) => (dump ? withSeq(LINKS, first) : ack(first, 0)),
  };
  const two = await netlinkDeps(undefined, silent).routeGetMany(['192.0.2.7', '192.0.2.8']);
  assert.deepEqual(two, ['no route in the answer', 'no answer from the kernel']);
  // A refused link dump: every answer is the reason, nothing looked up.
  const refused: NetlinkTransport = {
    ...t,
    transact: async (_r, first) => ack(first, 1),
    errnoText: () => 'Operation not permitted',
  };
  assert.deepEqual(await netlinkDeps(undefined, refused).routeGetMany(['192.0.2.7']), [
    'RTM_GETLINK failed: E1: Operation not permitted',
  ]);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from '../golden/fixtures';
import { FormatError } from '../../src/errors';
import {
  AF_INET,
  AF_INET6,
  DUMP_REQUEST_SIZE,
  NLMSG_DONE,
  NLMSGERR_ATTR_MSG,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTM_F_LOOKUP_TABLE,
  RTNH_F_ONLINK,
  ROUTE_GET_REQUEST_SIZE,
  ROUTE_REQUEST_MAX,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RTN_UNICAST,
  forEachAttr,
  nlmsgFlags,
  nlmsgLen,
  nlmsgSeq,
  nlmsgType,
  nlmsgAlign,
  parseError,
  parseErrorText,
  parseLink,
  parseMessages,
  parseRoute,
  writeDumpRequest,
  writeNlmsghdr,
  writeRouteGetRequest,
  writeRouteRequest,
  RTN_NAMES,
  type RouteRequest,
} from '../../src/wire/rtnetlink';
import { ipv4ToU32 as ip4ToU32, ipv6ToBuffer, u32ToIpv4 as u32ToIp4 } from '../../src/net/addr';

const DUMPS = join(FIXTURES, 'rtnetlink');

function ack(seq: number, errno: number): Uint8Array {
  const b = new Uint8Array(NLMSG_HDRLEN + 4 + NLMSG_HDRLEN);
  writeNlmsghdr(b, 0, b.length, NLMSG_ERROR, 0x100, seq);
  new DataView(b.buffer).setInt32(NLMSG_HDRLEN, -errno, true);
  return b;
}

test('a route request round-trips: header, rtmsg and attributes as the kernel reads them', () => {
  const req: RouteRequest = {
    type: RTM_NEWROUTE,
    flags: NLM_F_CREATE | NLM_F_EXCL,
    seq: 0xfffffff0,
    table: RT_TABLE_MAIN,
    protocol: 87,
    scope: RT_SCOPE_UNIVERSE,
    rtype: RTN_UNICAST,
    rtmFlags: RTNH_F_ONLINK,
    dst: ip4ToU32('10.244.3.0'),
    dstLen: 24,
    gateway: ip4ToU32('10.244.3.0'),
    oif: 7,
  };
  const buf = new Uint8Array(ROUTE_REQUEST_MAX * 2).fill(0xee);
  const next = writeRouteRequest(buf, 4, req);
  assert.equal(next, 4 + NLMSG_HDRLEN + 12 + 3 * 8);
  assert.equal(nlmsgLen(buf, 4), next - 4);
  assert.equal(nlmsgType(buf, 4), RTM_NEWROUTE);
  assert.equal(nlmsgFlags(buf, 4), NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  assert.equal(nlmsgSeq(buf, 4), 0xfffffff0);
  const [m] = parseMessages(buf.subarray(4, next));
  const r = parseRoute(buf.subarray(4, next), m!);
  assert.deepEqual(r, {
    family: AF_INET,
    dstLen: 24,
    table: RT_TABLE_MAIN,
    protocol: 87,
    scope: RT_SCOPE_UNIVERSE,
    type: RTN_UNICAST,
    flags: RTNH_F_ONLINK,
    dst: ip4ToU32('10.244.3.0'),
    gateway: ip4ToU32('10.244.3.0'),
    oif: 7,
  });
  // Addresses are in network order inside their attributes (bytes 10 244 3 0).
  const text = Buffer.from(buf.subarray(4, next)).toString('hex');
  assert.ok(text.includes('0800010' + '00af40300'), text);
  // A big table number goes into RTA_TABLE, rtm_table 0 (RT_TABLE_UNSPEC).
  const n2 = writeRouteRequest(buf, 0, { ...req, table: 1000, gateway: undefined, oif: undefined });
  const r2 = parseRoute(buf.subarray(0, n2), parseMessages(buf.subarray(0, n2))[0]!);
  assert.equal(r2.table, 1000);
  assert.equal(r2.gateway, undefined);
});

test('dump requests: RTM_GETROUTE for AF_INET, RTM_GETLINK for every family', () => {
  const b = new Uint8Array(DUMP_REQUEST_SIZE * 2);
  const next = writeDumpRequest(b, 0, RTM_GETROUTE, 9);
  const end = writeDumpRequest(b, next, RTM_GETLINK, 10);
  assert.equal(nlmsgFlags(b, 0), NLM_F_REQUEST | NLM_F_DUMP);
  assert.equal(nlmsgLen(b, 0), NLMSG_HDRLEN + 12);
  assert.equal(b[NLMSG_HDRLEN], AF_INET);
  assert.equal(nlmsgType(b, next), RTM_GETLINK);
  assert.equal(nlmsgLen(b, next), NLMSG_HDRLEN + 16);
  assert.equal(b[next + NLMSG_HDRLEN], 0);
  assert.deepEqual(
    parseMessages(b.subarray(0, end)).map((m) => [m.type, m.seq]),
    [
      [RTM_GETROUTE, 9],
      [RTM_GETLINK, 10],
    ],
  );
});

test('acks and errors: 0 for an ack, the positive errno for a failure', () => {
  const b = Buffer.concat([ack(5, 0), ack(6, 17)]);
  const ms = parseMessages(b);
  assert.deepEqual(
    ms.map((m) => [m.seq, parseError(b, m)]),
    [
      [5, 0],
      [6, 17],
    ],
  );
});

test('a real kernel dump (captured in a namespace) parses into the routes `ip -j route show` lists', () => {
  const links = readFileSync(join(DUMPS, 'link-dump.bin'));
  const routes = readFileSync(join(DUMPS, 'route-dump.bin'));
  const shown = JSON.parse(readFileSync(join(DUMPS, 'route-show.json'), 'utf8')) as Array<{
    dst: string;
    dev?: string;
    gateway?: string;
    type?: string;
  }>;
  const names = new Map<number, string>();
  const lm = parseMessages(links);
  assert.equal(lm[lm.length - 1]!.type, NLMSG_DONE);
  for (const m of lm)
    if (m.type === RTM_NEWLINK) names.set(parseLink(links, m).index, parseLink(links, m).name);
  assert.deepEqual([...names.values()].sort(), ['lo', 'v0', 'v1']);
  const rm = parseMessages(routes);
  assert.equal(rm[rm.length - 1]!.type, NLMSG_DONE);
  const main = rm
    .filter((m) => m.type === RTM_NEWROUTE)
    .map((m) => parseRoute(routes, m))
    .filter((r) => r.table === RT_TABLE_MAIN);
  assert.ok(rm.length > main.length + 1, 'the dump holds the local table too');
  assert.deepEqual(
    main.map((r) => ({
      dst: r.dstLen === 32 ? u32ToIp4(r.dst) : `${u32ToIp4(r.dst)}/${r.dstLen}`,
      ...(r.oif !== undefined ? { dev: names.get(r.oif) } : {}),
      ...(r.gateway !== undefined ? { gateway: u32ToIp4(r.gateway) } : {}),
    })),
    shown.map((s) => ({
      dst: s.dst,
      ...(s.dev ? { dev: s.dev } : {}),
      ...(s.gateway ? { gateway: s.gateway } : {}),
    })),
  );
  const onlink = main.find((r) => u32ToIp4(r.dst) === '10.244.3.0')!;
  assert.equal(onlink.protocol, 87);
  assert.equal(onlink.flags & RTNH_F_ONLINK, RTNH_F_ONLINK);
});

test('malformed replies are a FormatError, never a crash or a wild read', () => {
  const good = readFileSync(join(DUMPS, 'route-dump.bin'));
  const bad: Array<[string, Uint8Array]> = [
    ['truncated mid-message', good.subarray(0, 40)],
    ['shorter than a header', good.subarray(0, 7)],
    [
      'length below a header',
      (() => {
        const b = Buffer.from(good);
        b.writeUInt32LE(8, 0);
        return b;
      })(),
    ],
    [
      'length past the end',
      (() => {
        const b = Buffer.from(good);
        b.writeUInt32LE(good.length + 4, 0);
        return b;
      })(),
    ],
  ];
  for (const [name, b] of bad) assert.throws(() => parseMessages(b), FormatError, name);

  // Whole messages, broken insides: an attribute running past its message, a short rtmsg, a
  // short error, an IPv4 prefix longer than 32, an RTA_DST of 3 bytes.
  const m0 = parseMessages(good)[0]!;
  const one = Buffer.from(good.subarray(0, m0.end));
  const attr = Buffer.from(one);
  attr.writeUInt16LE(200, NLMSG_HDRLEN + 12);
  assert.throws(() => parseRoute(attr, parseMessages(attr)[0]!), FormatError);
  const longPrefix = Buffer.from(one);
  longPrefix[NLMSG_HDRLEN + 1] = 33;
  assert.throws(() => parseRoute(longPrefix, parseMessages(longPrefix)[0]!), FormatError);
  const short = Buffer.alloc(NLMSG_HDRLEN + 4);
  writeNlmsghdr(short, 0, short.length, RTM_NEWROUTE, 0, 1);
  assert.throws(() => parseRoute(short, parseMessages(short)[0]!), FormatError);
  assert.throws(() => parseLink(short, parseMessages(short)[0]!), FormatError);
  const shortErr = Buffer.alloc(NLMSG_HDRLEN + 2);
  writeNlmsghdr(shortErr, 0, shortErr.length, NLMSG_ERROR, 0, 1);
  assert.throws(() => parseError(shortErr, parseMessages(shortErr)[0]!), FormatError);
  const req = new Uint8Array(ROUTE_REQUEST_MAX);
  const n = writeRouteRequest(req, 0, {
    type: RTM_NEWROUTE,
    flags: 0,
    seq: 1,
    table: RT_TABLE_MAIN,
    protocol: 87,
    scope: 0,
    rtype: 1,
    rtmFlags: 0,
    dst: 1,
    dstLen: 24,
  });
  const dst3 = Buffer.from(req.subarray(0, n));
  dst3.writeUInt16LE(7, NLMSG_HDRLEN + 12);
  assert.throws(() => parseRoute(dst3, parseMessages(dst3)[0]!), FormatError);
});

test('extended acks: the kernel message after a capped request header, as iproute2 prints it', () => {
  const text = 'Nexthop has invalid gateway';
  const attrLen = 4 + text.length + 1;
  const b = Buffer.alloc(NLMSG_HDRLEN + 4 + NLMSG_HDRLEN + nlmsgAlign(attrLen));
  writeNlmsghdr(b, 0, b.length, NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, 3);
  b.writeInt32LE(-22, NLMSG_HDRLEN);
  writeNlmsghdr(b, NLMSG_HDRLEN + 4, 60, RTM_NEWROUTE, 0, 3);
  b.writeUInt16LE(attrLen, NLMSG_HDRLEN + 4 + NLMSG_HDRLEN);
  b.writeUInt16LE(NLMSGERR_ATTR_MSG, NLMSG_HDRLEN + 4 + NLMSG_HDRLEN + 2);
  b.write(text, NLMSG_HDRLEN + 4 + NLMSG_HDRLEN + 4);
  const [m] = parseMessages(b);
  assert.equal(parseError(b, m!), 22);
  assert.equal(parseErrorText(b, m!), text);
  // Without NLM_F_ACK_TLVS there is no text; a TLV running past the end is a FormatError.
  assert.equal(parseErrorText(b, { ...m!, flags: NLM_F_CAPPED }), undefined);
  b.writeUInt16LE(200, NLMSG_HDRLEN + 4 + NLMSG_HDRLEN);
  assert.throws(() => parseErrorText(b, m!), FormatError);
});

test('IPv6: 16-byte addresses make an AF_INET6 request', () => {
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  const buf = new Uint8Array(ROUTE_REQUEST_MAX);
  const n = writeRouteRequest(buf, 0, {
    type: RTM_NEWROUTE,
    flags: NLM_F_CREATE | NLM_F_EXCL,
    seq: 4,
    table: RT_TABLE_MAIN,
    protocol: 87,
    scope: RT_SCOPE_UNIVERSE,
    rtype: RTN_UNICAST,
    rtmFlags: 0,
    dst: ipv6ToBuffer('fd00:244::'),
    dstLen: 64,
    gateway: ipv6ToBuffer('fe80::1'),
    oif: 3,
  });
  assert.equal(n, NLMSG_HDRLEN + 12 + 20 + 20 + 8);
  assert.ok(n <= ROUTE_REQUEST_MAX);
  assert.equal(buf[NLMSG_HDRLEN], AF_INET6);
  assert.equal(buf[NLMSG_HDRLEN + 1], 64);
  const attrs: Array<[number, string]> = [];
  forEachAttr(buf, NLMSG_HDRLEN + 12, n, (type, at, end) =>
    attrs.push([type, Buffer.from(buf.subarray(at, end)).toString('hex')]),
  );
  assert.deepEqual(attrs, [
    [1, hex(ipv6ToBuffer('fd00:244::'))],
    [5, hex(ipv6ToBuffer('fe80::1'))],
    [4, '03000000'],
  ]);
});

test('a route lookup is the request iproute2 sends for `ip route get` (captured), plus NLM_F_ACK', () => {
  const theirs = Buffer.from(readFileSync(join(DUMPS, 'route-get-request.hex'), 'utf8').trim(), 'hex');
  assert.equal(theirs.length, ROUTE_GET_REQUEST_SIZE);
  const buf = new Uint8Array(ROUTE_GET_REQUEST_SIZE + 8).fill(0xee);
  const next = writeRouteGetRequest(buf, 4, nlmsgSeq(theirs, 0), ip4ToU32('192.0.2.7'));
  assert.equal(next, 4 + ROUTE_GET_REQUEST_SIZE);
  const ours = Buffer.from(buf.subarray(4, next));
  assert.equal(nlmsgFlags(ours, 0), NLM_F_REQUEST | NLM_F_ACK);
  assert.equal(nlmsgFlags(theirs, 0), NLM_F_REQUEST);
  // Every byte but the flags': type, rtmsg (AF_INET, /32, RTM_F_LOOKUP_TABLE) and RTA_DST.
  ours.writeUInt16LE(NLM_F_REQUEST, 6);
  assert.equal(ours.toString('hex'), theirs.toString('hex'));
  assert.equal(nlmsgType(ours, 0), RTM_GETROUTE);
  assert.equal(ours.readUInt32LE(NLMSG_HDRLEN + 8), RTM_F_LOOKUP_TABLE);
  assert.equal(buf[3], 0xee, 'nothing written before off');
  assert.equal(buf[next], 0xee, 'nothing written past the request');
});

/** essentials keeps the fields of an `ip -j route get` route that a lookup's answer carries. */
function essentials(o: Record<string, unknown>): Record<string, unknown> {
  const keys = ['type', 'dst', 'gateway', 'dev', 'prefsrc'].filter((k) => k in o);
  return Object.fromEntries(keys.map((k) => [k, o[k]]));
}

test('captured lookup answers parse into what `ip -j route get` printed for the same destinations', () => {
  const reply = readFileSync(join(DUMPS, 'route-get.bin'));
  const links = readFileSync(join(DUMPS, 'link-dump.bin'));
  const names = new Map<number, string>();
  for (const m of parseMessages(links))
    if (m.type === RTM_NEWLINK) names.set(parseLink(links, m).index, parseLink(links, m).name);
  const printed = readFileSync(join(DUMPS, 'route-get.txt'), 'utf8').trimEnd().split('\n');
  // strerror() of the errnos the kernel answered with, as iproute2 printed them.
  const strerror: Record<number, string> = { 22: 'Invalid argument', 101: 'Network is unreachable' };
  const answers = new Map<number, unknown>();
  for (const m of parseMessages(reply)) {
    if (m.type === RTM_NEWROUTE) {
      const r = parseRoute(reply, m);
      assert.equal(r.dstLen, 32);
      answers.set(m.seq, [
        {
          ...(r.type !== RTN_UNICAST ? { type: RTN_NAMES[r.type] } : {}),
          dst: u32ToIp4(r.dst),
          ...(r.gateway !== undefined ? { gateway: u32ToIp4(r.gateway) } : {}),
          dev: names.get(r.oif!),
          prefsrc: u32ToIp4(r.prefsrc!),
        },
      ]);
    } else {
      assert.equal(m.type, NLMSG_ERROR);
      const errno = parseError(reply, m);
      if (errno !== 0) answers.set(m.seq, `RTNETLINK answers: ${strerror[errno] ?? errno}`);
      else assert.ok(answers.has(m.seq), 'an ack comes after its answer');
    }
  }
  assert.equal(printed.length, 6);
  assert.deepEqual(
    [...answers.keys()].sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 6],
  );
  printed.forEach((line, k) => {
    const want = line.startsWith('[')
      ? (JSON.parse(line) as Array<Record<string, unknown>>).map(essentials)
      : line;
    assert.deepEqual(answers.get(k + 1), want, `destination ${k + 1}`);
  });
});

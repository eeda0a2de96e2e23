/**
 * rtnetlink messages for IPv4 routes and links: RFC 3549 ("Linux Netlink as an IP Services
 * Protocol", §2.2 the netlink header, §3.1 the route service) and the kernel's uapi headers
 * linux/netlink.h (nlmsghdr, nlmsgerr, NLM_F_*), linux/rtnetlink.h (rtmsg, rtattr, RTM_*, RTA_*,
 * RTN_*, RTPROT_*, RT_SCOPE_*, RTNH_F_ONLINK) and linux/if_link.h (ifinfomsg, IFLA_IFNAME).
 *
 * Every field is in host byte order (netlink never leaves the machine), except addresses inside
 * attributes, which are in network order as on the wire. Messages and attributes are padded to
 * 4 bytes (NLMSG_ALIGN, RTA_ALIGN).
 *
 *   nlmsghdr (16)   | len u32 | type u16 | flags u16 | seq u32 | pid u32 |
 *   rtmsg (12)      | family u8 | dst_len u8 | src_len u8 | tos u8 | table u8 | protocol u8 |
 *                   | scope u8 | type u8 | flags u32 |
 *   ifinfomsg (16)  | family u8 | pad u8 | type u16 | index i32 | flags u32 | change u32 |
 *   rtattr (4)      | len u16 | type u16 | value (len - 4) ... padding to 4 |
 *   nlmsgerr        | error i32 (0 = ack, else -errno) | the request's nlmsghdr (+ payload unless
 *                   | NLM_F_CAPPED) | extended-ack TLVs (rtattr framing) when NLM_F_ACK_TLVS |
 *
 * Builders write into a caller's buffer and return the next offset; parsers validate every
 * length against the buffer and throw FormatError (WEFT_ERR_FORMAT) on a malformed reply.
 * Control path only (route programming and lookups, src/io/rtnetlink-deps.ts): parsers return objects, so
 * this module is not exported from src/wire/index.ts with the allocation-free packet headers.
 */
import { endianness } from 'node:os';
import { FormatError } from '../errors';

const LE = endianness() === 'LE';

/** NLMSG_HDRLEN is the size of struct nlmsghdr. */
export const NLMSG_HDRLEN = 16;
/** NLMSG_OFF_LEN is the offset of nlmsg_len (u32: header + payload, before padding). */
export const NLMSG_OFF_LEN = 0;
/** NLMSG_OFF_TYPE is the offset of nlmsg_type (u16). */
export const NLMSG_OFF_TYPE = 4;
/** NLMSG_OFF_FLAGS is the offset of nlmsg_flags (u16). */
export const NLMSG_OFF_FLAGS = 6;
/** NLMSG_OFF_SEQ is the offset of nlmsg_seq (u32). */
export const NLMSG_OFF_SEQ = 8;
/** NLMSG_OFF_PID is the offset of nlmsg_pid (u32, 0 = the kernel). */
export const NLMSG_OFF_PID = 12;

/** NLMSG_NOOP, NLMSG_ERROR (error or ack), NLMSG_DONE (end of a dump), NLMSG_OVERRUN. */
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

/** NLM_F_* request flags (linux/netlink.h). */
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
/** On NLMSG_ERROR: the request was not copied back (NETLINK_CAP_ACK); TLVs follow (NETLINK_EXT_ACK). */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;
/** NLMSGERR_ATTR_MSG is the extended ack's text (NUL-terminated), e.g. `Nexthop has invalid gateway`. */
export const NLMSGERR_ATTR_MSG = 1;
/** NLM_F_DUMP is NLM_F_ROOT | NLM_F_MATCH (GET requests). */
export const NLM_F_DUMP = 0x300;
/** NEW requests: replace an existing object, fail if one exists, create one if none. */
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

/** RTM_* message types (linux/rtnetlink.h). */
export const RTM_NEWLINK = 16;
export const RTM_GETLINK = 18;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;

/** RTMSG_SIZE is the size of struct rtmsg. */
export const RTMSG_SIZE = 12;
export const RTM_OFF_FAMILY = 0;
export const RTM_OFF_DST_LEN = 1;
export const RTM_OFF_SRC_LEN = 2;
export const RTM_OFF_TOS = 3;
export const RTM_OFF_TABLE = 4;
export const RTM_OFF_PROTOCOL = 5;
export const RTM_OFF_SCOPE = 6;
export const RTM_OFF_TYPE = 7;
export const RTM_OFF_FLAGS = 8;

/** IFINFOMSG_SIZE is the size of struct ifinfomsg. */
export const IFINFOMSG_SIZE = 16;
export const IFI_OFF_FAMILY = 0;
export const IFI_OFF_TYPE = 2;
export const IFI_OFF_INDEX = 4;
export const IFI_OFF_FLAGS = 8;
export const IFI_OFF_CHANGE = 12;

/** RTA_HDRLEN is the size of struct rtattr. */
export const RTA_HDRLEN = 4;
/** RTA_* route attributes. */
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
/** RTA_PREFSRC is the source address the kernel would pick (route lookups, connected routes). */
export const RTA_PREFSRC = 7;
export const RTA_MULTIPATH = 9;
export const RTA_TABLE = 15;
/** IFLA_IFNAME is the link attribute holding the name (NUL-terminated). */
export const IFLA_IFNAME = 3;

/** AF_INET and AF_UNSPEC address families. */
export const AF_UNSPEC = 0;
export const AF_INET = 2;
/** AF_INET6 is the IPv6 address family (a RouteRequest whose addresses are 16 bytes). */
export const AF_INET6 = 10;
/** RT_TABLE_MAIN is the main routing table. */
export const RT_TABLE_MAIN = 254;
/** RT_SCOPE_*: universe (via a gateway), link (on the link), host, nowhere (delete: any scope). */
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RT_SCOPE_NOWHERE = 255;
/** RTN_UNSPEC (delete: any type) and RTN_UNICAST. */
export const RTN_UNSPEC = 0;
export const RTN_UNICAST = 1;
/** RTNH_F_ONLINK: the gateway is on the link even without a route to it (rtm_flags). */
export const RTNH_F_ONLINK = 4;

/**
 * RTM_F_LOOKUP_TABLE (rtm_flags of an RTM_GETROUTE lookup): answer with the table of the route
 * that matched, as iproute2's `ip route get` asks for IPv4.
 */
export const RTM_F_LOOKUP_TABLE = 0x1000;

/** NLMSGERR_SIZE is the nlmsgerr payload weft reads: the error and the request's header. */
export const NLMSGERR_SIZE = 4 + NLMSG_HDRLEN;

/** RTN_NAMES are rtm_type values as iproute2 prints them (unicast is never printed). */
export const RTN_NAMES: readonly string[] = [
  'unspec',
  'unicast',
  'local',
  'broadcast',
  'anycast',
  'multicast',
  'blackhole',
  'unreachable',
  'prohibit',
  'throw',
  'nat',
  'xresolve',
];

/** RTPROT_BOOT is the protocol of a route added without `proto` (iproute2 does not print it). */
export const RTPROT_BOOT = 3;

/** RTPROT_NAMES are rtm_protocol values as iproute2 names them (/usr/share/iproute2/rt_protos). */
export const RTPROT_NAMES: ReadonlyMap<number, string> = new Map([
  [0, 'unspec'],
  [1, 'redirect'],
  [2, 'kernel'],
  [3, 'boot'],
  [4, 'static'],
  [8, 'gated'],
  [9, 'ra'],
  [10, 'mrt'],
  [11, 'zebra'],
  [12, 'bird'],
  [13, 'dnrouted'],
  [14, 'xorp'],
  [15, 'ntk'],
  [16, 'dhcp'],
  [17, 'mrouted'],
  [18, 'keepalived'],
  [42, 'babel'],
  [99, 'openr'],
  [186, 'bgp'],
  [187, 'isis'],
  [188, 'ospf'],
  [189, 'rip'],
  [192, 'eigrp'],
]);

/** nlmsgAlign rounds a length up to NLMSG_ALIGNTO (4); RTA_ALIGN is the same. */
export function nlmsgAlign(n: number): number {
  return (n + 3) & ~3;
}

function dv(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** nlmsgLen reads nlmsg_len. */
export function nlmsgLen(buf: Uint8Array, off: number): number {
  return dv(buf).getUint32(off + NLMSG_OFF_LEN, LE);
}

/** nlmsgType reads nlmsg_type. */
export function nlmsgType(buf: Uint8Array, off: number): number {
  return dv(buf).getUint16(off + NLMSG_OFF_TYPE, LE);
}

/** nlmsgFlags reads nlmsg_flags. */
export function nlmsgFlags(buf: Uint8Array, off: number): number {
  return dv(buf).getUint16(off + NLMSG_OFF_FLAGS, LE);
}

/** nlmsgSeq reads nlmsg_seq. */
export function nlmsgSeq(buf: Uint8Array, off: number): number {
  return dv(buf).getUint32(off + NLMSG_OFF_SEQ, LE);
}

/** writeNlmsghdr writes a header at `off` for a message of `len` bytes (header included). */
export function writeNlmsghdr(
  buf: Uint8Array,
  off: number,
  len: number,
  type: number,
  flags: number,
  seq: number,
): void {
  const v = dv(buf);
  v.setUint32(off + NLMSG_OFF_LEN, len, LE);
  v.setUint16(off + NLMSG_OFF_TYPE, type, LE);
  v.setUint16(off + NLMSG_OFF_FLAGS, flags, LE);
  v.setUint32(off + NLMSG_OFF_SEQ, seq >>> 0, LE);
  v.setUint32(off + NLMSG_OFF_PID, 0, LE);
}

function writeAttrU32(buf: Uint8Array, off: number, type: number, value: number): number {
  const v = dv(buf);
  v.setUint16(off, RTA_HDRLEN + 4, LE);
  v.setUint16(off + 2, type, LE);
  v.setUint32(off + RTA_HDRLEN, value >>> 0, LE);
  return off + RTA_HDRLEN + 4;
}

function writeAttrAddr(buf: Uint8Array, off: number, type: number, ip: number | Uint8Array): number {
  const v = dv(buf);
  const len = typeof ip === 'number' ? 4 : ip.length;
  v.setUint16(off, RTA_HDRLEN + len, LE);
  v.setUint16(off + 2, type, LE);
  if (typeof ip === 'number') v.setUint32(off + RTA_HDRLEN, ip >>> 0, false);
  else buf.set(ip, off + RTA_HDRLEN);
  return off + RTA_HDRLEN + nlmsgAlign(len);
}

/** RouteRequest is one RTM_NEWROUTE / RTM_DELROUTE for an IPv4 or IPv6 route in one table. */
export interface RouteRequest {
  /** RTM_NEWROUTE or RTM_DELROUTE. */
  readonly type: number;
  /** NLM_F_* besides REQUEST and ACK (CREATE|EXCL for add, CREATE|REPLACE for replace). */
  readonly flags: number;
  readonly seq: number;
  readonly table: number;
  readonly protocol: number;
  readonly scope: number;
  /** rtm_type: RTN_UNICAST, or RTN_UNSPEC for a delete that matches any type. */
  readonly rtype: number;
  /** rtm_flags, e.g. RTNH_F_ONLINK. */
  readonly rtmFlags: number;
  /** Destination (IPv4: a host-order u32; IPv6: 16 bytes, which makes the route AF_INET6) and its length. */
  readonly dst: number | Uint8Array;
  readonly dstLen: number;
  /** Next hop, of the destination's family, if any. */
  readonly gateway?: number | Uint8Array;
  /** Output interface index, if any. */
  readonly oif?: number;
}

/** ROUTE_REQUEST_MAX is the largest message writeRouteRequest writes (table, IPv6 dst and gateway, oif). */
export const ROUTE_REQUEST_MAX = NLMSG_HDRLEN + RTMSG_SIZE + 8 + 2 * (RTA_HDRLEN + 16) + 8;

/** writeRouteRequest writes `r` at `off` (needs ROUTE_REQUEST_MAX bytes) and returns the next offset. */
export function writeRouteRequest(buf: Uint8Array, off: number, r: RouteRequest): number {
  const m = off + NLMSG_HDRLEN;
  buf.fill(0, m, m + RTMSG_SIZE);
  buf[m + RTM_OFF_FAMILY] = typeof r.dst === 'number' ? AF_INET : AF_INET6;
  buf[m + RTM_OFF_DST_LEN] = r.dstLen;
  buf[m + RTM_OFF_TABLE] = r.table < 256 ? r.table : 0;
  buf[m + RTM_OFF_PROTOCOL] = r.protocol;
  buf[m + RTM_OFF_SCOPE] = r.scope;
  buf[m + RTM_OFF_TYPE] = r.rtype;
  dv(buf).setUint32(m + RTM_OFF_FLAGS, r.rtmFlags >>> 0, LE);
  let a = m + RTMSG_SIZE;
  if (r.table >= 256) a = writeAttrU32(buf, a, RTA_TABLE, r.table);
  if (r.dstLen > 0) a = writeAttrAddr(buf, a, RTA_DST, r.dst);
  if (r.gateway !== undefined) a = writeAttrAddr(buf, a, RTA_GATEWAY, r.gateway);
  if (r.oif !== undefined) a = writeAttrU32(buf, a, RTA_OIF, r.oif);
  writeNlmsghdr(buf, off, a - off, r.type, NLM_F_REQUEST | NLM_F_ACK | r.flags, r.seq);
  return nlmsgAlign(a);
}

/** DUMP_REQUEST_SIZE is the size of a dump request (header + rtmsg or ifinfomsg, both padded). */
export const DUMP_REQUEST_SIZE = NLMSG_HDRLEN + IFINFOMSG_SIZE;

/**
 * writeDumpRequest writes an RTM_GETROUTE (AF_INET routes, every table) or RTM_GETLINK (every
 * link) dump request at `off` (at most DUMP_REQUEST_SIZE bytes) and returns the next offset.
 */
export function writeDumpRequest(buf: Uint8Array, off: number, type: number, seq: number): number {
  buf.fill(0, off, off + DUMP_REQUEST_SIZE);
  const len = type === RTM_GETROUTE ? NLMSG_HDRLEN + RTMSG_SIZE : NLMSG_HDRLEN + IFINFOMSG_SIZE;
  if (type === RTM_GETROUTE) buf[off + NLMSG_HDRLEN + RTM_OFF_FAMILY] = AF_INET;
  writeNlmsghdr(buf, off, len, type, NLM_F_REQUEST | NLM_F_DUMP, seq);
  return off + len;
}

/** ROUTE_GET_REQUEST_SIZE is the size of a route lookup (header, rtmsg, RTA_DST of 4 bytes). */
export const ROUTE_GET_REQUEST_SIZE = NLMSG_HDRLEN + RTMSG_SIZE + RTA_HDRLEN + 4;

/**
 * writeRouteGetRequest writes the lookup `ip route get DST` sends for an IPv4 `dst` (host-order
 * u32) at `off` (ROUTE_GET_REQUEST_SIZE bytes) and returns the next offset: RTM_GETROUTE, AF_INET,
 * a /32 RTA_DST, RTM_F_LOOKUP_TABLE. With NLM_F_ACK, so that every lookup ends in one NLMSG_ERROR
 * (0 after its RTM_NEWROUTE answer, else the -errno), as acks end route changes.
 */
export function writeRouteGetRequest(buf: Uint8Array, off: number, seq: number, dst: number): number {
  const m = off + NLMSG_HDRLEN;
  buf.fill(0, m, m + RTMSG_SIZE);
  buf[m + RTM_OFF_FAMILY] = AF_INET;
  buf[m + RTM_OFF_DST_LEN] = 32;
  dv(buf).setUint32(m + RTM_OFF_FLAGS, RTM_F_LOOKUP_TABLE, LE);
  const end = writeAttrAddr(buf, m + RTMSG_SIZE, RTA_DST, dst);
  writeNlmsghdr(buf, off, end - off, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_ACK, seq);
  return end;
}

/** NetlinkMessage locates one message of a reply: its header fields and payload bounds. */
export interface NetlinkMessage {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  /** Offset of the payload (after the header) and its end (nlmsg_len, without padding). */
  readonly payload: number;
  readonly end: number;
}

/**
 * parseMessages splits a reply into its messages. Throws FormatError when a length runs outside
 * the buffer or is shorter than a header (a truncated or corrupt reply); the trailing padding of
 * the last message may be absent.
 */
export function parseMessages(buf: Uint8Array): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < NLMSG_HDRLEN)
      throw new FormatError(`rtnetlink: ${buf.length - off} trailing bytes at ${off}, shorter than a header`);
    const len = nlmsgLen(buf, off);
    if (len < NLMSG_HDRLEN || len > buf.length - off)
      throw new FormatError(
        `rtnetlink: message at ${off} has length ${len} (${buf.length - off} bytes left)`,
      );
    out.push({
      type: nlmsgType(buf, off),
      flags: nlmsgFlags(buf, off),
      seq: nlmsgSeq(buf, off),
      payload: off + NLMSG_HDRLEN,
      end: off + len,
    });
    off += nlmsgAlign(len);
  }
  return out;
}

/** parseError reads an NLMSG_ERROR payload: 0 for an ack, else the positive errno. */
export function parseError(buf: Uint8Array, m: NetlinkMessage): number {
  if (m.end - m.payload < 4) throw new FormatError(`rtnetlink: NLMSG_ERROR of ${m.end - m.payload} bytes`);
  return 0 - dv(buf).getInt32(m.payload, LE);
}

/**
 * parseErrorText reads the extended ack's message of an NLMSG_ERROR (NLMSGERR_ATTR_MSG), or
 * undefined when the kernel gave none.
 */
export function parseErrorText(buf: Uint8Array, m: NetlinkMessage): string | undefined {
  if ((m.flags & NLM_F_ACK_TLVS) === 0) return undefined;
  const orig = m.payload + 4;
  if (m.end - orig < NLMSG_HDRLEN)
    throw new FormatError(`rtnetlink: NLMSG_ERROR of ${m.end - m.payload} bytes`);
  const start = (m.flags & NLM_F_CAPPED) !== 0 ? orig + NLMSG_HDRLEN : orig + nlmsgAlign(nlmsgLen(buf, orig));
  if (start > m.end) throw new FormatError(`rtnetlink: NLMSG_ERROR's request runs past its end`);
  let text: string | undefined;
  forEachAttr(buf, start, m.end, (type, at, end) => {
    if (type !== NLMSGERR_ATTR_MSG) return;
    let e = at;
    while (e < end && buf[e] !== 0) e++;
    text = Buffer.from(buf.buffer, buf.byteOffset + at, e - at).toString('utf8');
  });
  return text;
}

/** forEachAttr walks the attributes in [start, end); throws FormatError on a bad length. */
export function forEachAttr(
  buf: Uint8Array,
  start: number,
  end: number,
  fn: (type: number, value: number, valueEnd: number) => void,
): void {
  const v = dv(buf);
  let a = start;
  while (end - a >= RTA_HDRLEN) {
    const len = v.getUint16(a, LE);
    if (len < RTA_HDRLEN || len > end - a)
      throw new FormatError(`rtnetlink: attribute at ${a} has length ${len} (${end - a} bytes left)`);
    fn(v.getUint16(a + 2, LE) & 0x3fff, a + RTA_HDRLEN, a + len);
    a += nlmsgAlign(len);
  }
}

/** RouteInfo is an RTM_NEWROUTE message as read from a dump or a lookup's answer (IPv4). */
export interface RouteInfo {
  family: number;
  dstLen: number;
  /** rtm_table, or RTA_TABLE when present (tables above 255). */
  table: number;
  protocol: number;
  scope: number;
  type: number;
  flags: number;
  /** Host-order u32; 0 when absent (the default route). */
  dst: number;
  gateway?: number;
  oif?: number;
  priority?: number;
  /** Host-order u32: the preferred source (RTA_PREFSRC), e.g. in a lookup's answer. */
  prefsrc?: number;
}

/** parseRoute reads an RTM_NEWROUTE payload; throws FormatError when it is malformed. */
export function parseRoute(buf: Uint8Array, m: NetlinkMessage): RouteInfo {
  if (m.end - m.payload < RTMSG_SIZE) throw new FormatError(`rtnetlink: rtmsg of ${m.end - m.payload} bytes`);
  const p = m.payload;
  const v = dv(buf);
  const r: RouteInfo = {
    family: buf[p + RTM_OFF_FAMILY]!,
    dstLen: buf[p + RTM_OFF_DST_LEN]!,
    table: buf[p + RTM_OFF_TABLE]!,
    protocol: buf[p + RTM_OFF_PROTOCOL]!,
    scope: buf[p + RTM_OFF_SCOPE]!,
    type: buf[p + RTM_OFF_TYPE]!,
    flags: v.getUint32(p + RTM_OFF_FLAGS, LE),
    dst: 0,
  };
  if (r.family !== AF_INET) return r;
  if (r.dstLen > 32) throw new FormatError(`rtnetlink: IPv4 route with prefix length ${r.dstLen}`);
  forEachAttr(buf, p + RTMSG_SIZE, m.end, (type, at, end) => {
    if (
      type !== RTA_DST &&
      type !== RTA_GATEWAY &&
      type !== RTA_OIF &&
      type !== RTA_TABLE &&
      type !== RTA_PRIORITY &&
      type !== RTA_PREFSRC
    )
      return;
    if (end - at !== 4) throw new FormatError(`rtnetlink: route attribute ${type} of ${end - at} bytes`);
    if (type === RTA_DST) r.dst = v.getUint32(at, false);
    else if (type === RTA_GATEWAY) r.gateway = v.getUint32(at, false);
    else if (type === RTA_OIF) r.oif = v.getUint32(at, LE);
    else if (type === RTA_TABLE) r.table = v.getUint32(at, LE);
    else if (type === RTA_PREFSRC) r.prefsrc = v.getUint32(at, false);
    else r.priority = v.getUint32(at, LE);
  });
  return r;
}

/** parseLink reads an RTM_NEWLINK payload: the index and IFLA_IFNAME. */
export function parseLink(buf: Uint8Array, m: NetlinkMessage): { index: number; name: string } {
  if (m.end - m.payload < IFINFOMSG_SIZE)
    throw new FormatError(`rtnetlink: ifinfomsg of ${m.end - m.payload} bytes`);
  const index = dv(buf).getInt32(m.payload + IFI_OFF_INDEX, LE);
  let name = '';
  forEachAttr(buf, m.payload + IFINFOMSG_SIZE, m.end, (type, at, end) => {
    if (type !== IFLA_IFNAME) return;
    let e = at;
    while (e < end && buf[e] !== 0) e++;
    name = Buffer.from(buf.buffer, buf.byteOffset + at, e - at).toString('utf8');
  });
  return { index, name };
}

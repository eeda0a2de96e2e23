/**
 * Link layers of the frame decoder: Ethernet II with 802.1Q/802.1ad tags, Linux cooked v1/v2,
 * BSD loopback, and ARP (what an EtherType may carry besides IP).
 *   Ethernet II        IEEE 802.3 §3.2 (Ethernet II framing per RFC 894), 802.1Q/802.1ad tags per IEEE 802.1Q §9.6
 *   Linux cooked       https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html and LINKTYPE_LINUX_SLL2.html
 *   BSD loopback       https://www.tcpdump.org/linktypes/LINKTYPE_NULL.html
 *   ARP                RFC 826
 * What a link header carries is decoded through `layers.etherTypes` (walker.ts).
 */
import {
  ARP_HTYPE_ETHERNET,
  ARP_OFF_HLEN,
  ARP_OFF_OPER,
  ARP_OFF_PLEN,
  ARP_OFF_PTYPE,
  ARP_OFF_SHA,
  ARP_OFF_SPA,
  ARP_OFF_THA,
  ARP_OFF_TPA,
  ARP_OP_REPLY,
  ARP_OP_REQUEST,
  ARP_PTYPE_IPV4,
  ARP_SIZE,
  arpHlen,
  arpHtype,
  arpOp,
  arpPlen,
  arpPtype,
} from '../wire/arp';
import {
  ETH_ADDR_SIZE,
  ETH_HEADER_SIZE,
  ETH_OFF_DST,
  ETH_OFF_SRC,
  ETH_OFF_TYPE,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_VLAN,
} from '../wire/ethernet';
import { readU32 } from '../wire/ipv4';
import { ETHERTYPE_MAX_LENGTH, LOOPBACK, SLL, SLL2, VLAN } from './extra-headers';
import type { ArpInfo, LayerRole } from './model';
import { ETHERTYPES, LINUX_PACKET_TYPES, bits, hex, macKind, macText } from './names';
import { Walker, data, flag, innerEthernetTruncation, layers, trailer, truncation, ipv4At } from './walker';

export function ethernet(w: Walker, off: number, lim: number, role: LayerRole, underlay: boolean): void {
  const b = w.buf;
  const l = w.layer('Ethernet II', role, 'IEEE 802.3 §3.2, RFC 894', off);
  flag(
    l,
    role === 'inner'
      ? innerEthernetTruncation(lim, off)
      : truncation(lim, off, ETH_HEADER_SIZE, 'Ethernet header'),
  );
  if (!w.has(l, off + ETH_OFF_DST, ETH_ADDR_SIZE, 'destination MAC')) return;
  const dst = macText(b, off + ETH_OFF_DST);
  if (w.full) w.field(l, off, ETH_ADDR_SIZE, 'destination MAC', `${dst}  ${macKind(b, off)}`);
  if (!w.has(l, off + ETH_OFF_SRC, ETH_ADDR_SIZE, 'source MAC')) return;
  const src = macText(b, off + ETH_OFF_SRC);
  if (w.full) {
    w.field(l, off + ETH_OFF_SRC, ETH_ADDR_SIZE, 'source MAC', `${src}  ${macKind(b, off + ETH_OFF_SRC)}`);
  }
  let p = off + ETH_OFF_TYPE;
  if (!w.has(l, p, 2, 'EtherType')) return;
  let type = w.u16(p);
  let vlan: number | undefined;
  while (type === ETHERTYPE_VLAN || type === VLAN.TPID_QINQ) {
    if (w.full)
      w.field(l, p, 2, 'TPID', `${hex(type, 4)} (${ETHERTYPES[type]})`, { ref: 'IEEE 802.1Q §9.6' });
    if (role === 'inner' && vlan === undefined)
      w.note(l, 'warn', 'RFC 7348 §6.1: an inner VXLAN frame SHOULD NOT carry an 802.1Q tag.');
    flag(l, truncation(lim, p + 2, VLAN.SIZE, '802.1Q tag'));
    if (!w.has(l, p + 2, 2, 'TCI')) return;
    const tci = w.u16(p + 2);
    vlan ??= tci & VLAN.VID_MASK;
    if (w.full) {
      w.field(l, p + 2, 2, 'TCI', hex(tci, 4), {
        bits: [
          bits(tci, 0xe000, 16, 'PCP (priority)', String(tci >>> 13)),
          bits(tci, 0x1000, 16, 'DEI', String((tci >>> 12) & 1)),
          bits(tci, 0x0fff, 16, 'VLAN ID', String(tci & 0xfff)),
        ],
      });
    }
    p += VLAN.SIZE;
    if (!w.has(l, p, 2, 'EtherType')) return;
    type = w.u16(p);
  }
  const next = p + 2;
  l.info = { kind: 'link', etherType: type, payload: next, end: lim, src, dst };
  if (vlan !== undefined) l.info.vlan = vlan;
  if (type <= ETHERTYPE_MAX_LENGTH) {
    if (w.full) w.field(l, p, 2, 'length', `${type} (IEEE 802.3 length field: LLC frame, not decoded)`);
    data(w, w.layer('Data', role, '', next), next, b.length);
    return;
  }
  if (w.full) w.field(l, p, 2, 'EtherType', `${hex(type, 4)} ${ETHERTYPES[type] ?? '(unknown)'}`);
  etherPayload(w, type, next, lim, role, underlay);
}

/** etherPayload decodes what an EtherType (or a Linux cooked protocol type) announces at `off`. */
function etherPayload(
  w: Walker,
  type: number,
  off: number,
  lim: number,
  role: LayerRole,
  underlay: boolean,
): void {
  const next = layers.etherTypes.get(type);
  if (next !== undefined) {
    next(w, off, lim, role, underlay);
  } else if (off < w.buf.length) {
    data(w, w.layer('Data', role, '', off), off, w.buf.length);
  }
}

export function sll(w: Walker, lim: number): void {
  const l = w.layer('Linux cooked header', 'outer', 'LINKTYPE_LINUX_SLL', 0);
  flag(l, truncation(lim, 0, SLL.SIZE, 'Linux SLL header'));
  if (!w.has(l, 0, SLL.SIZE, 'the 16-byte SLL header')) return;
  const proto = w.u16(SLL.PROTOCOL);
  if (w.full) {
    const pt = w.u16(SLL.PKTTYPE);
    w.field(l, SLL.PKTTYPE, 2, 'packet type', `${pt} (${LINUX_PACKET_TYPES[pt] ?? 'unknown'})`);
    w.field(l, SLL.ARPHRD, 2, 'ARPHRD type', String(w.u16(SLL.ARPHRD)));
    const alen = w.u16(SLL.ADDR_LEN);
    w.field(l, SLL.ADDR_LEN, 2, 'address length', String(alen));
    w.field(
      l,
      SLL.ADDR,
      8,
      'address',
      alen === 6 ? macText(w.buf, SLL.ADDR) : hex(readU32(w.buf, SLL.ADDR), 8),
    );
    w.field(l, SLL.PROTOCOL, 2, 'protocol', `${hex(proto, 4)} ${ETHERTYPES[proto] ?? ''}`.trim());
  }
  l.info = { kind: 'link', etherType: proto, payload: SLL.SIZE, end: lim };
  etherPayload(w, proto, SLL.SIZE, lim, 'outer', true);
}

export function sll2(w: Walker, lim: number): void {
  const l = w.layer('Linux cooked header v2', 'outer', 'LINKTYPE_LINUX_SLL2', 0);
  flag(l, truncation(lim, 0, SLL2.SIZE, 'Linux SLL2 header'));
  if (!w.has(l, 0, SLL2.SIZE, 'the 20-byte SLL2 header')) return;
  const b = w.buf;
  const proto = w.u16(SLL2.PROTOCOL);
  if (w.full) {
    w.field(l, SLL2.PROTOCOL, 2, 'protocol', `${hex(proto, 4)} ${ETHERTYPES[proto] ?? ''}`.trim());
    w.field(l, SLL2.RESERVED, 2, 'reserved', hex(w.u16(SLL2.RESERVED), 4));
    w.field(l, SLL2.IFINDEX, 4, 'interface index', String(readU32(b, SLL2.IFINDEX)));
    w.field(l, SLL2.ARPHRD, 2, 'ARPHRD type', String(w.u16(SLL2.ARPHRD)));
    const pt = b[SLL2.PKTTYPE];
    w.field(l, SLL2.PKTTYPE, 1, 'packet type', `${pt} (${LINUX_PACKET_TYPES[pt] ?? 'unknown'})`);
    const alen = b[SLL2.ADDR_LEN];
    w.field(l, SLL2.ADDR_LEN, 1, 'address length', String(alen));
    w.field(l, SLL2.ADDR, 8, 'address', alen === 6 ? macText(b, SLL2.ADDR) : hex(readU32(b, SLL2.ADDR), 8));
  }
  l.info = { kind: 'link', etherType: proto, payload: SLL2.SIZE, end: lim };
  etherPayload(w, proto, SLL2.SIZE, lim, 'outer', true);
}

export function loopback(w: Walker, lim: number): void {
  const l = w.layer('Loopback header', 'outer', 'LINKTYPE_NULL', 0);
  flag(l, truncation(lim, 0, LOOPBACK.SIZE, 'loopback header'));
  if (!w.has(l, 0, LOOPBACK.SIZE, 'the address family')) return;
  // Host byte order: AF_INET (2) may sit in the first or the last byte.
  const b = w.buf;
  const af = b[0] === 0 ? b[3] : b[0];
  const v4 = af === LOOPBACK.AF_INET;
  if (w.full) w.field(l, 0, LOOPBACK.SIZE, 'address family', `${af} (${v4 ? 'AF_INET' : 'AF_INET6'})`);
  const type = v4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6;
  l.info = { kind: 'link', etherType: type, payload: LOOPBACK.SIZE, end: lim };
  layers.ip(w, LOOPBACK.SIZE, lim, 'outer', false, v4 ? 4 : 6, true);
}

export function arp(w: Walker, off: number, lim: number, role: LayerRole): void {
  const b = w.buf;
  const l = w.layer('ARP', role, 'RFC 826', off);
  flag(l, truncation(lim, off, ARP_OFF_SHA, 'ARP header'));
  if (!w.has(l, off, ARP_OFF_SHA, 'the ARP fixed header')) return;
  const htype = arpHtype(b, off);
  const ptype = arpPtype(b, off);
  const hlen = arpHlen(b, off);
  const plen = arpPlen(b, off);
  const op = arpOp(b, off);
  const info: ArpInfo = { kind: 'arp', htype, ptype, hlen, plen, op };
  if (htype === ARP_HTYPE_ETHERNET && ptype === ARP_PTYPE_IPV4 && hlen === 6 && plen === 4) {
    flag(l, truncation(lim, off, ARP_SIZE, 'ARP body'));
    if (l.problem === undefined) {
      info.sha = macText(b, off + ARP_OFF_SHA);
      info.spa = ipv4At(b, off + ARP_OFF_SPA);
      info.tpa = ipv4At(b, off + ARP_OFF_TPA);
    }
  }
  if (l.problem === undefined) l.info = info;
  if (w.full) {
    w.field(l, off, 2, 'hardware type', `${htype}${htype === ARP_HTYPE_ETHERNET ? ' (Ethernet)' : ''}`);
    w.field(l, off + ARP_OFF_PTYPE, 2, 'protocol type', `${hex(ptype, 4)} ${ETHERTYPES[ptype] ?? ''}`.trim());
    w.field(l, off + ARP_OFF_HLEN, 1, 'hardware size', String(hlen));
    w.field(l, off + ARP_OFF_PLEN, 1, 'protocol size', String(plen));
    w.field(
      l,
      off + ARP_OFF_OPER,
      2,
      'opcode',
      `${op} (${op === ARP_OP_REQUEST ? 'request' : op === ARP_OP_REPLY ? 'reply' : 'unknown'})`,
    );
  }
  if (hlen !== 6 || plen !== 4) {
    w.note(l, 'warn', `Only Ethernet/IPv4 ARP (sizes 6/4) is decoded further.`);
    return;
  }
  if (!w.has(l, off + ARP_OFF_SHA, ARP_SIZE - ARP_OFF_SHA, 'the ARP addresses')) return;
  if (w.full) {
    const spa = ipv4At(b, off + ARP_OFF_SPA);
    const tpa = ipv4At(b, off + ARP_OFF_TPA);
    w.field(l, off + ARP_OFF_SHA, 6, 'sender MAC', macText(b, off + ARP_OFF_SHA));
    w.field(l, off + ARP_OFF_SPA, 4, 'sender IP', spa);
    w.field(l, off + ARP_OFF_THA, 6, 'target MAC', macText(b, off + ARP_OFF_THA));
    w.field(l, off + ARP_OFF_TPA, 4, 'target IP', tpa);
    w.note(
      l,
      'info',
      op === ARP_OP_REQUEST
        ? `Who has ${tpa}? Tell ${spa}.`
        : `${spa} is at ${macText(b, off + ARP_OFF_SHA)}.`,
    );
  }
  trailer(w, l, off + ARP_SIZE, 'ARP message');
}

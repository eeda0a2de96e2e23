/**
 * Network layers of the frame decoder: IPv4 and IPv6 (with extension headers), and the hand-off
 * to the transport decoder the protocol number names (`layers.ipv4Protocols` / `ipv6Protocols`).
 *   IPv4               RFC 791 §3.1 (DSCP RFC 2474, ECN RFC 3168)
 *   IPv6               RFC 8200 §3, extension headers §4.3-§4.6
 */
import { ipv6ToString, u32ToIpv4 } from '../net/addr';
import {
  IP_PROTO_ICMPV6,
  IP_PROTO_TCP,
  IP_PROTO_UDP,
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  IPV4_FRAGMENT_OFFSET_MASK,
  IPV4_MIN_HEADER_SIZE,
  IPV4_OFF_CHECKSUM,
  IPV4_OFF_DST,
  IPV4_OFF_FLAGS_FRAGMENT,
  IPV4_OFF_ID,
  IPV4_OFF_PROTOCOL,
  IPV4_OFF_SRC,
  IPV4_OFF_TOS,
  IPV4_OFF_TOTAL_LENGTH,
  IPV4_OFF_TTL,
  ipv4Checksum,
  ipv4ComputeChecksum,
  ipv4Dst,
  ipv4FlagsFragment,
  ipv4HeaderLength,
  ipv4Id,
  ipv4Ihl,
  ipv4Protocol,
  ipv4Src,
  ipv4Tos,
  ipv4TotalLength,
  ipv4Ttl,
  ipVersion,
  readU32,
} from '../wire/ipv4';
import {
  IPV6_ADDR_SIZE,
  IPV6_HEADER_SIZE,
  IPV6_OFF_DST,
  IPV6_OFF_HOP_LIMIT,
  IPV6_OFF_NEXT_HEADER,
  IPV6_OFF_PAYLOAD_LENGTH,
  IPV6_OFF_SRC,
  IPV6_OFF_VERSION_TC_FLOW,
  ipv6HopLimit,
  ipv6NextHeader,
  ipv6PayloadLength,
} from '../wire/ipv6';
import { IPV6_EXT } from './extra-headers';
import type { Ipv6Info, LayerRole, Status } from './model';
import { ECN_NAMES, IP_PROTOCOLS, bits, checksumValue, dscpName, hex } from './names';
import { IpContext, type IpDecoder, Walker, data, flag, layers, trailer, truncation } from './walker';

/**
 * ipAny decodes an IPv4 or IPv6 header at `off` by its version nibble. `expect` is what the
 * link layer announced; for the `underlay` header (the frame's first IP header) a mismatch or a
 * short header is the frame's problem, worded `outer ...`.
 */
export const ipAny: IpDecoder = (w, off, lim, role, quoted, expect, underlay = false) => {
  const first = w.layers.length;
  let pre: string | undefined;
  if (underlay && expect !== undefined) {
    const size = expect === 4 ? IPV4_MIN_HEADER_SIZE : IPV6_HEADER_SIZE;
    pre = truncation(lim, off, size, `outer IPv${expect} header`);
    if (pre === undefined && ipVersion(w.buf, off) !== expect)
      pre = `outer IP version ${ipVersion(w.buf, off)} in an IPv${expect} frame`;
  } else {
    pre = truncation(lim, off, 1, 'IP header');
  }
  if (off >= w.buf.length) {
    // Not even the version nibble: a placeholder layer carries the truncation.
    const l0 = w.layer('IP', role, 'RFC 791 / RFC 8200', off);
    w.has(l0, off, 1, 'the IP version nibble');
    flag(l0, pre);
    return;
  }
  const v = ipVersion(w.buf, off);
  if (v === 4) ipv4(w, off, lim, role, quoted, expect === 6, underlay);
  else if (v === 6) ipv6(w, off, lim, role, expect === 4, underlay);
  else {
    const l = w.layer('IP', role, 'RFC 791 §3.1 / RFC 8200 §3', off);
    if (w.full) {
      w.field(l, off, 1, 'version', `${v} (neither 4 nor 6)`, { status: 'bad' });
      w.note(l, 'bad', `Not an IP packet: version nibble is ${v}.`);
    }
    pre ??= `IP version ${v}`;
    data(w, w.layer('Data', role, '', off), off, w.buf.length);
  }
  // The link layer's verdict comes first: it is what a receiver checks before reading further.
  if (pre !== undefined) w.layers[first].problem = pre;
};

function ipv4(
  w: Walker,
  off: number,
  lim: number,
  role: LayerRole,
  quoted: boolean,
  mismatched: boolean,
  underlay: boolean,
): void {
  const b = w.buf;
  const l = w.layer('IPv4', role, 'RFC 791 §3.1', off);
  if (mismatched) w.note(l, 'bad', 'The EtherType said IPv6 but the version nibble is 4.');
  const pfx = underlay ? 'outer ' : '';
  const present = lim - off;
  flag(l, truncation(lim, off, IPV4_MIN_HEADER_SIZE, `${pfx}IPv4 header`));
  if (l.problem === undefined) {
    const hl = ipv4HeaderLength(b, off);
    const total = ipv4TotalLength(b, off);
    if (hl < IPV4_MIN_HEADER_SIZE) l.problem = `${pfx}IPv4 IHL ${hl} < 20`;
    flag(l, truncation(lim, off, hl, `${pfx}IPv4 options`));
    if (total < hl) flag(l, `${pfx}IPv4 total length ${total} < header ${hl}`);
    const ff = ipv4FlagsFragment(b, off);
    l.info = {
      kind: 'ipv4',
      src: u32ToIpv4(ipv4Src(b, off)),
      dst: u32ToIpv4(ipv4Dst(b, off)),
      total,
      id: ipv4Id(b, off),
      mf: (ff & IPV4_FLAG_MF) !== 0,
      fragOffset: (ff & IPV4_FRAGMENT_OFFSET_MASK) * 8,
      protocol: ipv4Protocol(b, off),
      present,
    };
  }
  const ihl = ipv4Ihl(b, off);
  const hl = ihl * 4;
  if (w.full) {
    const vihl = b[off];
    w.field(l, off, 1, 'version, IHL', `4, ${ihl} (${hl}-byte header)`, {
      status: ihl < 5 ? 'bad' : undefined,
      bits: [
        bits(vihl, 0xf0, 8, 'version', '4'),
        bits(
          vihl,
          0x0f,
          8,
          'IHL',
          `${ihl} × 4 = ${hl} bytes${ihl < 5 ? ' (must be >= 5)' : ''}`,
          ihl < 5 ? 'bad' : undefined,
        ),
      ],
    });
  }
  if (!w.has(l, off + IPV4_OFF_TOS, 1, 'type of service')) return;
  if (w.full) {
    const tos = ipv4Tos(b, off);
    w.field(l, off + IPV4_OFF_TOS, 1, 'DSCP, ECN', `${hex(tos, 2)}`, {
      ref: 'RFC 2474, RFC 3168',
      bits: [
        bits(tos, 0xfc, 8, 'DSCP', dscpName(tos >>> 2)),
        bits(tos, 0x03, 8, 'ECN', `${tos & 3} ${ECN_NAMES[tos & 3]}`),
      ],
    });
  }
  if (!w.has(l, off + IPV4_OFF_TOTAL_LENGTH, 2, 'total length')) return;
  const total = ipv4TotalLength(b, off);
  if (w.full) {
    const avail = b.length - off;
    let totalStatus: Status | undefined;
    let totalNote = '';
    if (total < hl) {
      totalStatus = 'bad';
      totalNote = ` (less than the ${hl}-byte header)`;
    } else if (!quoted && total > avail) {
      totalStatus = 'bad';
      totalNote = ` (the frame holds only ${avail})`;
    }
    w.field(
      l,
      off + IPV4_OFF_TOTAL_LENGTH,
      2,
      'total length',
      `${total} bytes${totalNote}`,
      totalStatus ? { status: totalStatus } : {},
    );
  }
  if (!w.has(l, off + IPV4_OFF_ID, 2, 'identification')) return;
  if (w.full) {
    const id = ipv4Id(b, off);
    w.field(l, off + IPV4_OFF_ID, 2, 'identification', `${hex(id, 4)} (${id})`);
  }
  if (!w.has(l, off + IPV4_OFF_FLAGS_FRAGMENT, 2, 'flags, fragment offset')) return;
  const ff = ipv4FlagsFragment(b, off);
  const mf = (ff & IPV4_FLAG_MF) !== 0;
  const fragOff = ff & IPV4_FRAGMENT_OFFSET_MASK;
  if (w.full) {
    const df = (ff & IPV4_FLAG_DF) !== 0;
    const names = [df ? 'DF' : '', mf ? 'MF' : '', fragOff ? `offset ${fragOff * 8}` : ''].filter(Boolean);
    w.field(
      l,
      off + IPV4_OFF_FLAGS_FRAGMENT,
      2,
      'flags, fragment offset',
      `${hex(ff, 4)}${names.length ? ' ' + names.join(', ') : ''}`,
      {
        bits: [
          bits(
            ff,
            0x8000,
            16,
            'reserved',
            ff & 0x8000 ? '1 (must be 0)' : '0',
            ff & 0x8000 ? 'bad' : undefined,
          ),
          bits(ff, IPV4_FLAG_DF, 16, "DF (don't fragment)", df ? '1 set' : '0 may fragment'),
          bits(ff, IPV4_FLAG_MF, 16, 'MF (more fragments)', mf ? '1 more follow' : '0 last fragment'),
          bits(
            ff,
            IPV4_FRAGMENT_OFFSET_MASK,
            16,
            'fragment offset',
            `${fragOff} (× 8 = byte ${fragOff * 8})`,
          ),
        ],
      },
    );
  }
  if (!w.has(l, off + IPV4_OFF_TTL, 1, 'time to live')) return;
  if (w.full) w.field(l, off + IPV4_OFF_TTL, 1, 'time to live', String(ipv4Ttl(b, off)));
  if (!w.has(l, off + IPV4_OFF_PROTOCOL, 1, 'protocol')) return;
  const proto = ipv4Protocol(b, off);
  if (w.full) {
    w.field(l, off + IPV4_OFF_PROTOCOL, 1, 'protocol', `${proto} ${IP_PROTOCOLS[proto] ?? '(unknown)'}`);
  }
  if (!w.has(l, off + IPV4_OFF_CHECKSUM, 2, 'header checksum')) return;
  if (w.full) {
    const complete = ihl >= 5 && off + hl <= b.length;
    const [cv, cs] = checksumValue(
      ipv4Checksum(b, off),
      complete ? ipv4ComputeChecksum(b, off) : undefined,
      ihl < 5 ? 'bad IHL' : 'header incomplete',
    );
    w.field(l, off + IPV4_OFF_CHECKSUM, 2, 'header checksum', cv, cs ? { status: cs } : {});
  }
  if (!w.has(l, off + IPV4_OFF_SRC, 4, 'source address')) return;
  if (w.full) w.field(l, off + IPV4_OFF_SRC, 4, 'source address', u32ToIpv4(ipv4Src(b, off)));
  if (!w.has(l, off + IPV4_OFF_DST, 4, 'destination address')) return;
  if (w.full) w.field(l, off + IPV4_OFF_DST, 4, 'destination address', u32ToIpv4(ipv4Dst(b, off)));
  if (ihl < 5) {
    if (w.full) w.note(l, 'bad', `IHL ${ihl} is below the minimum of 5; the payload is not decoded.`);
    w.stopped = true;
    return;
  }
  if (hl > IPV4_MIN_HEADER_SIZE) {
    if (!w.has(l, off + IPV4_MIN_HEADER_SIZE, hl - IPV4_MIN_HEADER_SIZE, 'options')) return;
    if (w.full) {
      w.field(l, off + IPV4_MIN_HEADER_SIZE, hl - IPV4_MIN_HEADER_SIZE, 'options', `${hl - 20} bytes`);
    }
  }
  const start = off + hl;
  const end = quoted ? b.length : Math.min(b.length, off + Math.max(total, hl));
  if (fragOff !== 0) {
    w.note(l, 'info', 'A non-first fragment: its payload continues an earlier packet.');
    if (start < end) data(w, w.layer('Data', role, '', start), start, end);
    if (!quoted) trailer(w, l, end, 'IPv4 packet');
    return;
  }
  if (mf && !quoted) w.note(l, 'info', 'First fragment of a fragmented packet (MF set).');
  if (quoted) w.note(l, 'info', 'This IPv4 header is quoted inside an ICMP error message.');
  const ip: IpContext = {
    version: 4,
    ipOff: off,
    payloadLen: Math.max(0, total - hl),
    role,
    quoted,
    underlay,
    lim: off + Math.max(0, Math.min(total, present)),
  };
  transport(w, proto, start, end, ip);
  if (!quoted && !w.stopped) trailer(w, l, end, 'IPv4 packet');
}

const IPV6_EXT_LAYERS: Record<number, [string, string]> = {
  [IPV6_EXT.HOP_BY_HOP]: ['IPv6 hop-by-hop options', 'RFC 8200 §4.3'],
  [IPV6_EXT.ROUTING]: ['IPv6 routing header', 'RFC 8200 §4.4'],
  [IPV6_EXT.FRAGMENT]: ['IPv6 fragment header', 'RFC 8200 §4.5'],
  [IPV6_EXT.DEST_OPTIONS]: ['IPv6 destination options', 'RFC 8200 §4.6'],
};

function ipv6(
  w: Walker,
  off: number,
  lim: number,
  role: LayerRole,
  mismatched: boolean,
  underlay: boolean,
): void {
  const b = w.buf;
  const l = w.layer('IPv6', role, 'RFC 8200 §3', off);
  if (mismatched) w.note(l, 'bad', 'The EtherType said IPv4 but the version nibble is 6.');
  flag(l, truncation(lim, off, IPV6_HEADER_SIZE, `${underlay ? 'outer ' : ''}IPv6 header`));
  if (!w.has(l, off, 4, 'version, traffic class, flow label')) return;
  if (w.full) {
    const word = readU32(b, off + IPV6_OFF_VERSION_TC_FLOW);
    const tc = (word >>> 20) & 0xff;
    w.field(l, off, 4, 'version, class, flow', `6, tc ${hex(tc, 2)}, flow ${hex(word & 0xfffff, 5)}`, {
      bits: [
        bits(word, 0xf0000000, 32, 'version', '6'),
        bits(word, 0x0fc00000, 32, 'DSCP', dscpName(tc >>> 2)),
        bits(word, 0x00300000, 32, 'ECN', `${tc & 3} ${ECN_NAMES[tc & 3]}`),
        bits(word, 0x000fffff, 32, 'flow label', hex(word & 0xfffff, 5)),
      ],
    });
  }
  if (!w.has(l, off + IPV6_OFF_PAYLOAD_LENGTH, 2, 'payload length')) return;
  const plen = ipv6PayloadLength(b, off);
  if (w.full) {
    const avail = b.length - off - IPV6_HEADER_SIZE;
    w.field(
      l,
      off + IPV6_OFF_PAYLOAD_LENGTH,
      2,
      'payload length',
      `${plen} bytes${plen > avail ? ` (the frame holds only ${Math.max(0, avail)})` : ''}`,
      plen > avail ? { status: 'bad' } : {},
    );
  }
  if (!w.has(l, off + IPV6_OFF_NEXT_HEADER, 1, 'next header')) return;
  const nh = ipv6NextHeader(b, off);
  if (w.full) {
    w.field(l, off + IPV6_OFF_NEXT_HEADER, 1, 'next header', `${nh} ${IP_PROTOCOLS[nh] ?? '(unknown)'}`);
  }
  if (!w.has(l, off + IPV6_OFF_HOP_LIMIT, 1, 'hop limit')) return;
  if (w.full) w.field(l, off + IPV6_OFF_HOP_LIMIT, 1, 'hop limit', String(ipv6HopLimit(b, off)));
  if (!w.has(l, off + IPV6_OFF_SRC, IPV6_ADDR_SIZE, 'source address')) return;
  const src = ipv6ToString(b, off + IPV6_OFF_SRC);
  if (w.full) w.field(l, off + IPV6_OFF_SRC, IPV6_ADDR_SIZE, 'source address', src);
  if (!w.has(l, off + IPV6_OFF_DST, IPV6_ADDR_SIZE, 'destination address')) return;
  const dst = ipv6ToString(b, off + IPV6_OFF_DST);
  if (w.full) w.field(l, off + IPV6_OFF_DST, IPV6_ADDR_SIZE, 'destination address', dst);
  const start = off + IPV6_HEADER_SIZE;
  const end = Math.min(b.length, start + plen);
  const total = IPV6_HEADER_SIZE + plen;
  const present = lim - off;
  const ipLim = off + Math.max(0, Math.min(total, present));
  const info: Ipv6Info = { kind: 'ipv6', src, dst, total, present, protocol: nh, exts: 0 };
  if (l.problem === undefined) l.info = info;

  // Extension headers (RFC 8200 §4): the byte view follows the captured bytes, the verdict the
  // Payload Length; each ends where the other would, so both walk the same chain.
  let next = nh;
  let p = start;
  let live = true;
  let fragmentOnly = false;
  for (let hops = 0; hops < IPV6_EXT.MAX_CHAIN && IPV6_EXT_LAYERS[next] !== undefined; hops++) {
    if (info.extProblem === undefined) {
      const t = truncation(ipLim, p, IPV6_EXT.MIN_SIZE, 'IPv6 extension header');
      if (t !== undefined) {
        info.extProblem = t;
        info.extProblemNext = next;
      }
    }
    if (!live) break;
    const [name, ref] = IPV6_EXT_LAYERS[next];
    const x = w.layer(name, role, ref, p);
    info.exts++;
    if (!w.has(x, p, 2, 'next header, length')) {
      live = false;
      break;
    }
    const after = b[p];
    if (w.full) w.field(x, p, 1, 'next header', `${after} ${IP_PROTOCOLS[after] ?? '(unknown)'}`);
    if (next === IPV6_EXT.FRAGMENT) {
      if (w.full) w.field(x, p + 1, 1, 'reserved', hex(b[p + 1], 2));
      if (!w.has(x, p + IPV6_EXT.FRAG_OFFSET, 6, 'fragment offset, identification')) {
        live = false;
        break;
      }
      const word = w.u16(p + IPV6_EXT.FRAG_OFFSET);
      const fo = word & IPV6_EXT.FRAG_OFFSET_MASK;
      const more = (word & 1) !== 0;
      if (w.full) {
        w.field(
          x,
          p + IPV6_EXT.FRAG_OFFSET,
          2,
          'fragment offset, M',
          `${fo >>> 3} (byte ${fo})${more ? ', M' : ''}`,
          {
            bits: [
              bits(word, IPV6_EXT.FRAG_OFFSET_MASK, 16, 'fragment offset', `${fo >>> 3} (× 8 = byte ${fo})`),
              bits(word, 0x0006, 16, 'reserved', String((word >>> 1) & 3)),
              bits(word, 0x0001, 16, 'M (more fragments)', more ? '1 more follow' : '0 last fragment'),
            ],
          },
        );
        const fid = readU32(b, p + IPV6_EXT.FRAG_ID);
        w.field(x, p + IPV6_EXT.FRAG_ID, 4, 'identification', `${hex(fid, 8)} (${fid})`);
      }
      if (fo !== 0) {
        if (info.extProblem === undefined) info.fragment = { offset: fo, protocol: after };
        w.note(x, 'info', 'A non-first fragment: its payload continues an earlier packet.');
        fragmentOnly = true;
        p += IPV6_EXT.MIN_SIZE;
        break;
      }
      if (more) w.note(x, 'info', 'First fragment of a fragmented packet (M set).');
      next = after;
      p += IPV6_EXT.MIN_SIZE;
    } else {
      const hlen = (b[p + IPV6_EXT.LENGTH] + 1) * 8;
      if (w.full)
        w.field(x, p + IPV6_EXT.LENGTH, 1, 'header length', `${b[p + IPV6_EXT.LENGTH]} (${hlen} bytes)`);
      if (!w.has(x, p + 2, hlen - 2, next === IPV6_EXT.ROUTING ? 'routing data' : 'options')) live = false;
      else if (w.full && next === IPV6_EXT.ROUTING) {
        w.field(x, p + 2, 1, 'routing type', String(b[p + 2]));
        w.field(x, p + 3, 1, 'segments left', String(b[p + 3]));
        w.field(x, p + 4, hlen - 4, 'data', `${hlen - 4} bytes`);
      } else if (w.full) {
        w.field(x, p + 2, hlen - 2, 'options', `${hlen - 2} bytes`);
      }
      next = after;
      p += hlen;
    }
  }
  if (info.extProblem === undefined && info.fragment === undefined && p > ipLim) {
    info.extProblem = 'IPv6 extension headers beyond packet end';
    info.extProblemNext = next;
  }
  info.protocol = next;
  if (!live) return;
  const ip: IpContext = {
    version: 6,
    ipOff: off,
    payloadLen: Math.max(0, plen - (p - start)),
    role,
    quoted: false,
    underlay,
    lim: ipLim,
  };
  if (fragmentOnly) {
    if (p < end) data(w, w.layer('Data', role, '', p), p, end);
  } else if (next === IP_PROTO_TCP || next === IP_PROTO_UDP || next === IP_PROTO_ICMPV6) {
    transport(w, next, p, end, ip);
  } else if (p < end) {
    if (w.full) w.note(l, 'info', `Next header ${next} is not decoded; showing the bytes.`);
    data(w, w.layer('Data', role, '', p), p, end);
  }
  if (!w.stopped) trailer(w, l, end, 'IPv6 packet');
}

function transport(w: Walker, proto: number, start: number, end: number, ip: IpContext): void {
  const next = (ip.version === 4 ? layers.ipv4Protocols : layers.ipv6Protocols)[proto];
  if (next !== undefined) next(w, start, end, ip);
  else if (start < end) data(w, w.layer('Data', ip.role, '', start), start, end);
}

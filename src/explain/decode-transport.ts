/**
 * Transport layers of the frame decoder: UDP (which decides, through `Walker.overlayFor`, whether
 * its payload is an overlay), TCP with its options, ICMP and ICMPv6.
 *   UDP                RFC 768
 *   TCP                RFC 9293 §3.1 (options: MSS RFC 9293 §3.2, WS/TS RFC 7323, SACK RFC 2018)
 *   ICMP               RFC 792 (next-hop MTU: RFC 1191 §4)
 *   ICMPv6             RFC 4443 §2.1
 */
import { ipv6ToString } from '../net/addr';
import { checksumAdd } from '../wire/checksum';
import {
  checksumState,
  overlayChecksumState,
  overlayInnerIp,
  type ChecksumState,
} from '../wire/checksum-state';
import {
  ICMPV4_CODE_FRAG_NEEDED,
  ICMPV4_DEST_UNREACHABLE,
  ICMPV4_ECHO_REPLY,
  ICMPV4_ECHO_REQUEST,
  ICMPV4_HEADER_SIZE,
  ICMPV4_OFF_CHECKSUM,
  ICMPV4_OFF_CODE,
  ICMPV4_OFF_ECHO_ID,
  ICMPV4_OFF_ECHO_SEQ,
  ICMPV4_OFF_NEXT_HOP_MTU,
  ICMPV4_PARAMETER_PROBLEM,
  ICMPV4_REDIRECT,
  ICMPV4_TIME_EXCEEDED,
  icmpv4Checksum,
  icmpv4Code,
  icmpv4EchoId,
  icmpv4EchoSeq,
  icmpv4NextHopMtu,
  icmpv4Type,
} from '../wire/icmpv4';
import { IP_PROTO_ICMPV6, IP_PROTO_TCP, IP_PROTO_UDP, readU32 } from '../wire/ipv4';
import { IPV6_ADDR_SIZE } from '../wire/ipv6';
import {
  UDP_HEADER_SIZE,
  UDP_OFF_CHECKSUM,
  UDP_OFF_DST_PORT,
  UDP_OFF_LENGTH,
  udpChecksum,
  udpDstPort,
  udpLength,
  udpSrcPort,
} from '../wire/udp';
import { ICMPV6, TCP } from './extra-headers';
import type { ExplainLayer, Status } from './model';
import { ICMP_TYPES, ICMP_UNREACH_CODES, ICMPV6_TYPES, bits, checksumValue, hex, portName } from './names';
import {
  IpContext,
  Walker,
  computeChecksum,
  data,
  flag,
  layers,
  pseudoHeaderSum,
  truncation,
  ipv4At,
} from './walker';

export function udp(w: Walker, off: number, end: number, ip: IpContext): void {
  const b = w.buf;
  const l = w.layer('UDP', ip.role, 'RFC 768', off);
  flag(l, truncation(ip.lim, off, UDP_HEADER_SIZE, `${ip.underlay ? 'outer ' : ''}UDP header`));
  if (!w.has(l, off, 2, 'source port')) return;
  const sport = udpSrcPort(b, off);
  if (!w.has(l, off + UDP_OFF_DST_PORT, 2, 'destination port')) {
    if (w.full) w.field(l, off, 2, 'source port', portName(sport));
    return;
  }
  const dport = udpDstPort(b, off);
  const readable = off + UDP_OFF_LENGTH + 2 <= b.length;
  const ulen = readable ? udpLength(b, off) : 0;
  const payloadEnd = Math.min(ip.lim, off + ulen);
  const overlay = ip.quoted ? undefined : w.overlayFor(sport, dport, off + UDP_HEADER_SIZE, payloadEnd);
  if (l.problem === undefined) {
    if (ip.underlay && ulen < UDP_HEADER_SIZE) l.problem = `outer UDP length ${ulen} < 8`;
    l.info = {
      kind: 'udp',
      sport,
      dport,
      length: ulen,
      payload: off + UDP_HEADER_SIZE,
      end: payloadEnd,
      segment: ip.lim - off,
    };
    if (overlay) l.info.overlay = overlay;
  }
  const isVxlan = overlay === 'vxlan';
  if (w.full) {
    // RFC 7348 §5 recommends a hash of the inner flow as the source port; a sender that uses its
    // bound port (flannel's udp backend, a weft node without --src-port flow) sends an overlay port.
    const toVtep = isVxlan && w.ports.has(dport);
    const fixed = sport === dport || w.ports.has(sport);
    const srcNote = !toVtep
      ? ''
      : fixed
        ? "  fixed: the sender's bound port, the same for every flow (not a flow hash)"
        : '  likely a hash of the inner flow, the same for every packet of a flow';
    w.field(l, off, 2, 'source port', portName(sport) + srcNote, toVtep ? { ref: 'RFC 7348 §5' } : {});
    w.field(l, off + UDP_OFF_DST_PORT, 2, 'destination port', portName(dport));
  }
  if (!w.has(l, off + UDP_OFF_LENGTH, 2, 'length')) return;
  const len = ulen;
  if (w.full) udpLengthField(w, l, off, len, ip);
  if (!w.has(l, off + UDP_OFF_CHECKSUM, 2, 'checksum')) return;
  if (ip.quoted) {
    if (w.full) {
      const stored = udpChecksum(b, off);
      w.field(l, off + UDP_OFF_CHECKSUM, 2, 'checksum', `${hex(stored, 4)} (not checked in a quoted header)`);
    }
    return;
  }
  // The one-line view shows an overlay datagram's checksum state; the byte view words it in its row.
  if (overlay && ip.version === 4 && l.info?.kind === 'udp') {
    const st = udpState(w, off, len, ip, overlay);
    if (st !== undefined) l.info.checksum = st;
  }
  if (w.full) udpChecksumField(w, l, off, len, ip);
  const pstart = off + UDP_HEADER_SIZE;
  const pend = Math.min(end, len >= 8 ? off + len : end);
  if (overlay !== undefined) layers.overlays[overlay](w, pstart, pend, payloadEnd);
  else if (pstart < pend) data(w, w.layer('Data', ip.role, '', pstart), pstart, pend);
}

/** udpLengthField records the UDP Length row, checked against the IP payload and the capture. */
function udpLengthField(w: Walker, l: ExplainLayer, off: number, len: number, ip: IpContext): void {
  let lenNote = '';
  let lenStatus: Status | undefined;
  if (len < 8) {
    lenNote = ' (less than the 8-byte header)';
    lenStatus = 'bad';
  } else if (!ip.quoted && len !== ip.payloadLen) {
    lenNote = ` (IP says ${ip.payloadLen})`;
    lenStatus = 'bad';
  } else if (!ip.quoted && off + len > w.buf.length) {
    lenNote = ` (the frame holds only ${w.buf.length - off})`;
    lenStatus = 'bad';
  }
  w.field(
    l,
    off + UDP_OFF_LENGTH,
    2,
    'length',
    `${len} bytes (8 header + ${Math.max(0, len - 8)} payload)${lenNote}`,
    lenStatus ? { status: lenStatus } : {},
  );
}

/** udpState classifies the checksum of a complete UDP datagram; undefined when it is not all there. */
function udpState(
  w: Walker,
  off: number,
  len: number,
  ip: IpContext,
  overlay: 'vxlan' | 'udp' | undefined,
): ChecksumState | undefined {
  const b = w.buf;
  if (len < 8 || off + len > b.length) return undefined;
  const stored = udpChecksum(b, off);
  if (stored === 0 && ip.version === 4) return 'none';
  const pseudo = pseudoHeaderSum(w, ip, IP_PROTO_UDP, len);
  const sum = checksumAdd(b, off, len, pseudo) - stored;
  const inner = overlay ? overlayInnerIp(b, off, off + len, overlay) : -1;
  return overlayChecksumState(b, stored, sum, pseudo, ip.version === 4, w.localSender(ip), inner, off + len);
}

/** udpChecksumField records the UDP checksum row of a datagram that is not quoted, verifying it. */
function udpChecksumField(w: Walker, l: ExplainLayer, off: number, len: number, ip: IpContext): void {
  const b = w.buf;
  const stored = udpChecksum(b, off);
  if (stored === 0 && ip.version === 4) {
    w.field(
      l,
      off + UDP_OFF_CHECKSUM,
      2,
      'checksum',
      '0x0000 none (allowed over IPv4; RFC 7348 §5 says SHOULD be zero)',
    );
  } else if (stored === 0) {
    w.field(
      l,
      off + UDP_OFF_CHECKSUM,
      2,
      'checksum',
      '0x0000 missing (IPv6 requires a UDP checksum, RFC 8200 §8.1)',
      { status: 'bad' },
    );
  } else {
    const ok = len >= 8 && off + len <= b.length;
    let computed = ok
      ? computeChecksum(b, off, len, off + UDP_OFF_CHECKSUM, pseudoHeaderSum(w, ip, IP_PROTO_UDP, len))
      : undefined;
    if (computed === 0) computed = 0xffff; // RFC 768: a computed zero is sent as all ones
    const st = ok
      ? udpState(w, off, len, ip, l.info?.kind === 'udp' ? l.info.overlay : undefined)
      : undefined;
    const [cv, cs] = checksumValue(stored, computed, 'datagram incomplete', st);
    w.field(
      l,
      off + UDP_OFF_CHECKSUM,
      2,
      'checksum',
      cv + (ok ? ' (over pseudo-header + datagram)' : ''),
      cs ? { status: cs } : {},
    );
  }
}

export function tcp(w: Walker, off: number, end: number, ip: IpContext): void {
  const b = w.buf;
  const l = w.layer('TCP', ip.role, 'RFC 9293 §3.1', off);
  flag(l, truncation(ip.lim, off, TCP.MIN_SIZE, 'TCP header'));
  if (l.problem === undefined) {
    const hl = (b[off + TCP.DOFF_FLAGS] >>> 4) * 4;
    if (hl < TCP.MIN_SIZE) l.problem = `TCP data offset ${hl} < 20`;
    else if (off + hl > ip.lim) l.problem = `TCP data offset ${hl} beyond segment end`;
    l.info = {
      kind: 'tcp',
      sport: w.u16(off + TCP.SRC_PORT),
      dport: w.u16(off + TCP.DST_PORT),
      seq: readU32(b, off + TCP.SEQ),
      ack: readU32(b, off + TCP.ACK),
      flags: b[off + TCP.FLAGS],
      window: w.u16(off + TCP.WINDOW),
      payloadLength: ip.lim - off - hl,
    };
    if (hl > TCP.MIN_SIZE && off + hl <= b.length)
      l.info.options = tcpOptionsText(b, off + TCP.MIN_SIZE, off + hl);
  }
  if (!w.has(l, off, 4, 'ports')) return;
  if (w.full) {
    w.field(l, off + TCP.SRC_PORT, 2, 'source port', portName(w.u16(off + TCP.SRC_PORT)));
    w.field(l, off + TCP.DST_PORT, 2, 'destination port', portName(w.u16(off + TCP.DST_PORT)));
  }
  if (ip.quoted && off + 8 > b.length) return;
  if (!w.has(l, off + TCP.SEQ, 4, 'sequence number')) return;
  if (w.full) w.field(l, off + TCP.SEQ, 4, 'sequence number', String(readU32(b, off + TCP.SEQ)));
  if (ip.quoted && off + TCP.MIN_SIZE > b.length) {
    w.note(l, 'info', 'ICMP quotes only the first 8 bytes of the TCP header.');
    return;
  }
  if (!w.has(l, off + TCP.ACK, 4, 'acknowledgment number')) return;
  if (w.full) w.field(l, off + TCP.ACK, 4, 'acknowledgment number', String(readU32(b, off + TCP.ACK)));
  if (!w.has(l, off + TCP.DOFF_FLAGS, 2, 'data offset, flags')) return;
  const doff = b[off + TCP.DOFF_FLAGS] >>> 4;
  if (w.full) tcpFlagsField(w, l, off, doff);
  if (!w.has(l, off + TCP.WINDOW, 2, 'window')) return;
  if (w.full) w.field(l, off + TCP.WINDOW, 2, 'window', String(w.u16(off + TCP.WINDOW)));
  if (!w.has(l, off + TCP.CHECKSUM, 2, 'checksum')) return;
  if (w.full) {
    const stored = w.u16(off + TCP.CHECKSUM);
    const segLen = ip.payloadLen;
    const complete = !ip.quoted && off + segLen <= b.length && segLen >= TCP.MIN_SIZE;
    const pseudo = complete ? pseudoHeaderSum(w, ip, IP_PROTO_TCP, segLen) : 0;
    const computed = complete ? computeChecksum(b, off, segLen, off + TCP.CHECKSUM, pseudo) : undefined;
    const [cv, cs] = checksumValue(
      stored,
      computed,
      ip.quoted ? 'quoted header' : 'segment incomplete',
      computed !== undefined ? checksumState(stored, computed, pseudo, false, w.localSender(ip)) : undefined,
    );
    w.field(l, off + TCP.CHECKSUM, 2, 'checksum', cv, cs ? { status: cs } : {});
  }
  if (!w.has(l, off + TCP.URGENT, 2, 'urgent pointer')) return;
  if (w.full) w.field(l, off + TCP.URGENT, 2, 'urgent pointer', String(w.u16(off + TCP.URGENT)));
  if (doff < 5) {
    if (w.full) w.note(l, 'bad', `Data offset ${doff} is below the minimum of 5.`);
    w.stopped = true;
    return;
  }
  const hl = doff * 4;
  if (hl > TCP.MIN_SIZE) {
    if (!w.has(l, off + TCP.MIN_SIZE, hl - TCP.MIN_SIZE, 'options')) return;
    if (w.full) tcpOptions(w, l, off + TCP.MIN_SIZE, off + hl);
  }
  const pstart = off + hl;
  if (pstart < end) data(w, w.layer('Data', ip.role, '', pstart), pstart, end);
}

/** TCP_FLAG_NAMES names the eight TCP control bits, bit 0 (FIN) first. */
const TCP_FLAG_NAMES = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'];

/** tcpFlagsField records the data offset and control bits row, each bit broken out. */
function tcpFlagsField(w: Walker, l: ExplainLayer, off: number, doff: number): void {
  const word = w.u16(off + TCP.DOFF_FLAGS);
  const set = TCP_FLAG_NAMES.filter((_, i) => word & (1 << i));
  const flagBits = TCP_FLAG_NAMES.map((n, i) =>
    bits(word, 1 << i, 16, n, word & (1 << i) ? '1' : '0'),
  ).reverse();
  w.field(l, off + TCP.DOFF_FLAGS, 2, 'data offset, flags', `${doff * 4}-byte header, [${set.join(', ')}]`, {
    status: doff < 5 ? 'bad' : undefined,
    bits: [
      bits(word, 0xf000, 16, 'data offset', `${doff} × 4 = ${doff * 4} bytes`, doff < 5 ? 'bad' : undefined),
      bits(word, 0x0f00, 16, 'reserved', String((word >>> 8) & 0xf)),
      ...flagBits,
    ],
  });
}

function tcpOptions(w: Walker, l: ExplainLayer, p: number, end: number): void {
  const b = w.buf;
  while (p < end) {
    const kind = b[p];
    if (kind === 0) {
      w.field(l, p, end - p, 'option EOL', 'end of option list');
      return;
    }
    if (kind === 1) {
      w.field(l, p, 1, 'option NOP', 'padding');
      p++;
      continue;
    }
    const len = p + 1 < end ? b[p + 1] : 0;
    if (len < 2 || p + len > end) {
      w.field(l, p, end - p, 'options', `malformed option kind ${kind}, length ${len}`, { status: 'bad' });
      return;
    }
    if (kind === 2 && len === 4)
      w.field(l, p, 4, 'option MSS', `${w.u16(p + 2)} bytes`, { ref: 'RFC 9293 §3.7.1' });
    else if (kind === 3 && len === 3)
      w.field(l, p, 3, 'option window scale', `shift ${b[p + 2]} (× ${2 ** b[p + 2]})`, {
        ref: 'RFC 7323 §2',
      });
    else if (kind === 4 && len === 2) w.field(l, p, 2, 'option SACK permitted', 'yes', { ref: 'RFC 2018' });
    else if (kind === 5) w.field(l, p, len, 'option SACK', `${(len - 2) / 8} block(s)`, { ref: 'RFC 2018' });
    else if (kind === 8 && len === 10)
      w.field(l, p, 10, 'option timestamps', `TSval ${readU32(b, p + 2)}, TSecr ${readU32(b, p + 6)}`, {
        ref: 'RFC 7323 §3',
      });
    else w.field(l, p, len, `option ${kind}`, `${len} bytes`);
    p += len;
  }
}

/** tcpOptionsText renders TCP options the way tcpdump does, e.g. `mss 1410,sackOK,TS val 1 ecr 0,nop,wscale 7`. */
function tcpOptionsText(b: Uint8Array, p: number, end: number): string {
  const out: string[] = [];
  while (p < end) {
    const kind = b[p];
    if (kind === 0) {
      out.push('eol');
      break;
    }
    if (kind === 1) {
      out.push('nop');
      p++;
      continue;
    }
    const len = p + 1 < end ? b[p + 1] : 0;
    if (len < 2 || p + len > end) {
      out.push(`bad opt ${kind}`);
      break;
    }
    if (kind === 2 && len === 4) out.push(`mss ${(b[p + 2] << 8) | b[p + 3]}`);
    else if (kind === 3 && len === 3) out.push(`wscale ${b[p + 2]}`);
    else if (kind === 4 && len === 2) out.push('sackOK');
    else if (kind === 5) out.push(`sack ${(len - 2) >>> 3}`);
    else if (kind === 8 && len === 10) out.push(`TS val ${readU32(b, p + 2)} ecr ${readU32(b, p + 6)}`);
    else out.push(`opt-${kind}:${len}`);
    p += len;
  }
  return out.join(',');
}

export function icmp(w: Walker, off: number, end: number, ip: IpContext): void {
  const b = w.buf;
  const l = w.layer('ICMP', ip.role, 'RFC 792', off);
  flag(l, truncation(ip.lim, off, ICMPV4_OFF_CHECKSUM + 2, 'ICMP header'));
  if (l.problem === undefined) {
    const t = icmpv4Type(b, off);
    // Echo and timestamp messages keep their identifier and sequence in the second word.
    if (t === ICMPV4_ECHO_REPLY || t === ICMPV4_ECHO_REQUEST || t === 13 || t === 14)
      flag(l, truncation(ip.lim, off, ICMPV4_HEADER_SIZE, 'ICMP echo header'));
    l.info = { kind: 'icmp', type: t, code: icmpv4Code(b, off), length: ip.payloadLen };
    if (ip.lim - off >= ICMPV4_HEADER_SIZE) l.info.rest = readU32(b, off + ICMPV4_OFF_ECHO_ID);
  }
  if (!w.has(l, off, 2, 'type and code')) return;
  const type = icmpv4Type(b, off);
  const code = icmpv4Code(b, off);
  if (w.full) {
    w.field(l, off, 1, 'type', `${type} ${ICMP_TYPES[type] ?? '(unknown)'}`);
    const codeName =
      type === ICMPV4_DEST_UNREACHABLE
        ? ICMP_UNREACH_CODES[code]
        : type === ICMPV4_TIME_EXCEEDED
          ? code === 0
            ? 'TTL exceeded in transit'
            : 'fragment reassembly time exceeded'
          : undefined;
    w.field(l, off + ICMPV4_OFF_CODE, 1, 'code', `${code}${codeName ? ' ' + codeName : ''}`);
  }
  if (!w.has(l, off + ICMPV4_OFF_CHECKSUM, 2, 'checksum')) return;
  if (w.full) {
    const mlen = end - off;
    const complete = !ip.quoted && off + ip.payloadLen <= b.length && mlen === ip.payloadLen;
    const [cv, cs] = checksumValue(
      icmpv4Checksum(b, off),
      complete ? computeChecksum(b, off, mlen, off + ICMPV4_OFF_CHECKSUM) : undefined,
      'message incomplete',
    );
    w.field(
      l,
      off + ICMPV4_OFF_CHECKSUM,
      2,
      'checksum',
      cv + (complete ? ` (over ${mlen} bytes)` : ''),
      cs ? { status: cs } : {},
    );
  }
  if (!w.has(l, off + ICMPV4_OFF_ECHO_ID, 4, 'rest of header')) return;
  const body = off + ICMPV4_HEADER_SIZE;
  if (type === ICMPV4_ECHO_REPLY || type === ICMPV4_ECHO_REQUEST) {
    if (w.full) {
      const id = icmpv4EchoId(b, off);
      w.field(l, off + ICMPV4_OFF_ECHO_ID, 2, 'identifier', `${hex(id, 4)} (${id})`);
      w.field(l, off + ICMPV4_OFF_ECHO_SEQ, 2, 'sequence number', String(icmpv4EchoSeq(b, off)));
    }
    if (body < end) data(w, w.layer('Data', ip.role, '', body), body, end);
    return;
  }
  if (w.full) icmpRestField(w, l, off, type, code);
  const quotes =
    type === ICMPV4_DEST_UNREACHABLE || type === ICMPV4_TIME_EXCEEDED || type === ICMPV4_PARAMETER_PROBLEM;
  if (quotes && body < b.length && !ip.quoted) {
    layers.ip(w, body, b.length, 'quoted', true);
    return;
  }
  if (body < end) data(w, w.layer('Data', ip.role, '', body), body, end);
}

/** icmpRestField records the second word of a non-echo ICMP header: next-hop MTU, gateway or unused. */
function icmpRestField(w: Walker, l: ExplainLayer, off: number, type: number, code: number): void {
  const b = w.buf;
  if (type === ICMPV4_DEST_UNREACHABLE && code === ICMPV4_CODE_FRAG_NEEDED) {
    w.field(l, off + ICMPV4_OFF_ECHO_ID, 2, 'unused', hex(w.u16(off + ICMPV4_OFF_ECHO_ID), 4));
    w.field(l, off + ICMPV4_OFF_NEXT_HOP_MTU, 2, 'next-hop MTU', `${icmpv4NextHopMtu(b, off)} bytes`, {
      ref: 'RFC 1191 §4',
    });
  } else {
    w.field(
      l,
      off + ICMPV4_OFF_ECHO_ID,
      4,
      type === ICMPV4_REDIRECT ? 'gateway address' : 'unused',
      type === ICMPV4_REDIRECT
        ? ipv4At(b, off + ICMPV4_OFF_ECHO_ID)
        : hex(readU32(b, off + ICMPV4_OFF_ECHO_ID), 8),
    );
  }
}

export function icmpv6(w: Walker, off: number, end: number, ip: IpContext): void {
  const b = w.buf;
  const l = w.layer('ICMPv6', ip.role, 'RFC 4443 §2.1', off);
  flag(l, truncation(ip.lim, off, ICMPV6.MIN_SIZE, 'ICMPv6 header'));
  if (l.problem === undefined) {
    const t = b[off];
    if (t === ICMPV6.ECHO_REQUEST || t === ICMPV6.ECHO_REPLY)
      flag(l, truncation(ip.lim, off, ICMPV6.BODY + 4, 'ICMPv6 echo header'));
    l.info = { kind: 'icmpv6', type: t, code: b[off + ICMPV6.CODE], length: ip.payloadLen };
    if (ip.lim - off >= ICMPV6.BODY + 4) l.info.rest = readU32(b, off + ICMPV6.BODY);
    const nd = t === ICMPV6.NEIGHBOR_SOLICITATION || t === ICMPV6.NEIGHBOR_ADVERTISEMENT;
    if (nd && ip.lim - off >= ICMPV6.ND_TARGET + IPV6_ADDR_SIZE)
      l.info.target = ipv6ToString(b, off + ICMPV6.ND_TARGET);
  }
  if (!w.has(l, off, ICMPV6.MIN_SIZE, 'type, code, checksum')) return;
  const type = b[off];
  if (w.full) {
    w.field(l, off, 1, 'type', `${type} ${ICMPV6_TYPES[type] ?? '(unknown)'}`);
    w.field(l, off + ICMPV6.CODE, 1, 'code', String(b[off + ICMPV6.CODE]));
    const mlen = end - off;
    const complete = off + ip.payloadLen <= b.length && mlen === ip.payloadLen;
    const [cv, cs] = checksumValue(
      w.u16(off + ICMPV6.CHECKSUM),
      complete
        ? computeChecksum(b, off, mlen, off + ICMPV6.CHECKSUM, pseudoHeaderSum(w, ip, IP_PROTO_ICMPV6, mlen))
        : undefined,
      'message incomplete',
    );
    w.field(l, off + ICMPV6.CHECKSUM, 2, 'checksum', cv, cs ? { status: cs } : {});
  }
  const body = off + ICMPV6.BODY;
  const echo = type === ICMPV6.ECHO_REQUEST || type === ICMPV6.ECHO_REPLY;
  if (echo && w.has(l, body, 4, 'identifier and sequence')) {
    if (w.full) {
      w.field(l, body, 2, 'identifier', hex(w.u16(body), 4));
      w.field(l, body + 2, 2, 'sequence number', String(w.u16(body + 2)));
    }
    if (body + 4 < end) data(w, w.layer('Data', ip.role, '', body + 4), body + 4, end);
    return;
  }
  if (body < end) data(w, w.layer('Data', ip.role, '', body), body, end);
}

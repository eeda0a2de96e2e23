/**
 * Overlay layers of the frame decoder: the VXLAN header and its inner Ethernet frame, and
 * flannel-UDP, whose UDP payload is the inner IP packet itself.
 *   VXLAN              RFC 7348 §5 (and the RCO fields of draft-herbert-vxlan-rco)
 *   flannel-UDP        no header: the UDP payload is the inner IP packet (flannel udp backend)
 */
import { ETH_HEADER_SIZE } from '../wire/ethernet';
import {
  VXLAN_FLAG_I,
  VXLAN_HEADER_SIZE,
  VXLAN_OFF_RESERVED1,
  VXLAN_OFF_RESERVED2,
  VXLAN_OFF_VNI,
  VXLAN_FLAG_RCO,
  vxlanFlags,
  vxlanHasRco,
  vxlanHasVni,
  vxlanRcoOffset,
  vxlanRcoStart,
  vxlanReservedBitsSet,
  vxlanVni,
} from '../wire/vxlan';
import type { ExplainLayer } from './model';
import { bits, hex } from './names';
import { Walker, flag, innerEthernetTruncation, layers, truncation } from './walker';

export function vxlan(w: Walker, off: number, end: number, lim: number): void {
  const b = w.buf;
  const l = w.layer('VXLAN', 'outer', 'RFC 7348 §5', off);
  if (lim - off < VXLAN_HEADER_SIZE) {
    l.problem = `truncated VXLAN header: ${Math.max(0, lim - off)} of 8 bytes`;
  } else if (!vxlanHasVni(b, off)) {
    l.problem = `bad VXLAN flags ${hex(vxlanFlags(b, off), 2)}`;
  } else {
    l.info = {
      kind: 'vxlan',
      flags: vxlanFlags(b, off),
      vni: vxlanVni(b, off),
      reserved: vxlanReservedBitsSet(b, off, true),
    };
    if (vxlanHasRco(b, off)) l.info.rco = { start: vxlanRcoStart(b, off), offset: vxlanRcoOffset(b, off) };
  }
  const rco = lim - off >= VXLAN_HEADER_SIZE && vxlanHasRco(b, off);
  if (!w.has(l, off, 1, 'flags')) return;
  if (w.full) vxlanFlagsField(w, l, off);
  if (!w.has(l, off + VXLAN_OFF_RESERVED1, 3, 'reserved')) return;
  if (w.full) {
    const r1 = (b[off + VXLAN_OFF_RESERVED1] << 16) | w.u16(off + VXLAN_OFF_RESERVED1 + 1);
    const c = (VXLAN_FLAG_RCO << 16) & r1;
    const rest = r1 & ~(VXLAN_FLAG_RCO << 16);
    w.field(
      l,
      off + VXLAN_OFF_RESERVED1,
      3,
      'reserved',
      `${hex(r1, 6)}${c ? ' C (RCO fields present)' : ''}${rest ? ' (must be 0 on send, ignored on receipt)' : ''}`,
      rest ? { status: 'warn' } : { ref: c ? 'draft-herbert-vxlan-rco' : undefined },
    );
  }
  if (!w.has(l, off + VXLAN_OFF_VNI, 3, 'VNI')) return;
  const vni = vxlanVni(b, off);
  if (w.full) w.field(l, off + VXLAN_OFF_VNI, 3, 'VNI', `${vni} (${hex(vni, 6)})`, { ref: 'RFC 7348 §5' });
  if (!w.has(l, off + VXLAN_OFF_RESERVED2, 1, 'reserved')) return;
  const inner = off + VXLAN_HEADER_SIZE;
  if (w.full) {
    const r2 = b[off + VXLAN_OFF_RESERVED2];
    if (rco) {
      const start = vxlanRcoStart(b, off);
      const o = vxlanRcoOffset(b, off);
      w.field(
        l,
        off + VXLAN_OFF_RESERVED2,
        1,
        'RCO',
        `${hex(r2, 2)}: checksum start ${start} (inner L4 header at ${start - ETH_HEADER_SIZE} into the IP packet), ${o === 6 ? 'UDP' : 'TCP'} checksum field at +${o}`,
        { ref: 'draft-herbert-vxlan-rco' },
      );
      w.note(
        l,
        'info',
        `Remote Checksum Offload: the inner ${o === 6 ? 'UDP' : 'TCP'} checksum holds only the pseudo-header sum; the receiver sums from byte ${start} of the inner frame to its end into it (Linux: remcsumrx; weft: --vxlan-rco, else dropped as vxlan_rco_disabled).`,
      );
    } else {
      w.field(
        l,
        off + VXLAN_OFF_RESERVED2,
        1,
        'reserved',
        `${hex(r2, 2)}${r2 ? ' (must be 0 on send, ignored on receipt)' : ''}`,
        r2 ? { status: 'warn' } : {},
      );
    }
    const innerEnd = Math.min(end, b.length);
    w.overlay = {
      kind: 'vxlan',
      vni,
      outer: [],
      innerOffset: inner,
      innerLength: Math.max(0, innerEnd - inner),
      innerIpLength: Math.max(0, innerEnd - inner - ETH_HEADER_SIZE),
    };
  }
  if (inner >= b.length) {
    w.note(l, 'bad', 'No inner Ethernet frame follows the VXLAN header.');
    flag(l, innerEthernetTruncation(lim, inner));
    return;
  }
  layers.ethernet(w, inner, lim, 'inner', false);
}

/** vxlanFlagsField records the VXLAN flags row with its I bit and reserved bits, and their notes. */
function vxlanFlagsField(w: Walker, l: ExplainLayer, off: number): void {
  const flags = vxlanFlags(w.buf, off);
  const iSet = (flags & VXLAN_FLAG_I) !== 0;
  const rsv = flags & ~VXLAN_FLAG_I & 0xff;
  w.field(l, off, 1, 'flags', `${hex(flags, 2)}${iSet ? ' I' : ''}${rsv ? ', reserved bits set' : ''}`, {
    status: iSet ? (rsv ? 'warn' : 'ok') : 'bad',
    bits: [
      bits(flags, 0xf0, 8, 'reserved (R)', String(flags >>> 4), flags & 0xf0 ? 'warn' : undefined),
      bits(flags, 0x08, 8, 'I (VNI valid)', iSet ? '1 set' : '0 CLEAR: must be 1', iSet ? 'ok' : 'bad'),
      bits(flags, 0x07, 8, 'reserved (R)', String(flags & 7), flags & 7 ? 'warn' : undefined),
    ],
  });
  if (!iSet)
    w.note(
      l,
      'bad',
      'RFC 7348 §5: the I flag MUST be set for a valid VNI; weft drops this frame (bad_vxlan_flags).',
    );
  if (rsv) {
    w.note(
      l,
      'warn',
      'Reserved flag bits are set: RFC 7348 §5 says ignore them on receipt (GBP/GPE use them); weft accepts and counts an anomaly.',
    );
  }
}

export function flannelUdp(w: Walker, off: number, end: number, lim: number): void {
  const l = w.layer('flannel-UDP', 'outer', 'flannel udp backend', off);
  if (w.full) {
    w.note(
      l,
      'info',
      'No overlay header: the UDP payload is the inner IP packet itself (flannel backend "udp", port 8285).',
    );
    const innerEnd = Math.min(end, w.buf.length);
    w.overlay = {
      kind: 'udp',
      outer: [],
      innerOffset: off,
      innerLength: Math.max(0, innerEnd - off),
      innerIpLength: Math.max(0, innerEnd - off),
    };
  }
  if (off >= w.buf.length) {
    w.note(l, 'bad', 'The UDP payload is empty: no inner packet.');
    flag(l, truncation(lim, off, 1, 'IP header'));
    return;
  }
  layers.ip(w, off, lim, 'inner', false);
}

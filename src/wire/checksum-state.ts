/**
 * What a captured transport checksum (UDP, TCP; RFC 768, RFC 9293 §3.1) says, Wireshark style.
 *
 * A capture taken on the sending host sees a packet before checksum offload completes it: Linux
 * marks such an skb CHECKSUM_PARTIAL and leaves in the checksum field only the folded
 * pseudo-header sum (`~csum_tcpudp_magic(saddr, daddr, len, proto, 0)`, see udp_set_csum and
 * tcp_v4_send_check), for the NIC to add the segment's sum to. On veth (namespaces, containers)
 * nothing ever completes it, so the receiving side's capture shows the same bytes. Such a field
 * is not corruption: a kernel receiver trusts the skb metadata and accepts the packet.
 *
 *   ok       the stored checksum is correct
 *   none     0x0000 over IPv4 UDP: no checksum (RFC 768)
 *   partial  the stored value is exactly the pseudo-header sum: left for checksum offload; or, for an
 *            overlay datagram whose inner TCP/UDP checksum is itself partial, the value that is
 *            correct once the inner one is completed (Linux local checksum offload, lco_csum, computes
 *            the outer checksum that way: udp_set_csum)
 *   offload  wrong, but sent by a local address (one that sent partial checksums in the same
 *            capture, or named by the user): "bad, probably offload", as Wireshark words it
 *   bad      wrong, from anywhere else: a receiver drops it
 */
import { checksumAdd, checksumFinish, checksumFold } from './checksum';
import { IP_PROTO_UDP } from './ipv4';

/** ChecksumState is the verdict on one captured checksum (see the file comment). */
export type ChecksumState = 'ok' | 'none' | 'partial' | 'offload' | 'bad';

/** CHECKSUM_STATES lists every state, in report order. */
export const CHECKSUM_STATES: readonly ChecksumState[] = ['ok', 'none', 'partial', 'offload', 'bad'];

/** CHECKSUM_STATE_TEXT words each state for reports and the one-line capture view. */
export const CHECKSUM_STATE_TEXT: Readonly<Record<ChecksumState, string>> = {
  ok: 'valid',
  none: 'none (zero: not computed)',
  partial: 'partial: left for checksum offload (captured before the NIC filled it in)',
  offload: 'bad, probably offload (sent from a local address)',
  bad: 'bad',
};

/**
 * checksumState classifies a stored checksum. `computed` is what the field should hold (0xffff for a
 * computed zero, as RFC 768 sends it), `pseudoSum` the unfolded pseudo-header sum, `zeroIsNone` true
 * for UDP over IPv4, `localSender` whether the packet's source is a local address.
 */
export function checksumState(
  stored: number,
  computed: number,
  pseudoSum: number,
  zeroIsNone: boolean,
  localSender: boolean,
): ChecksumState {
  if (stored === 0 && zeroIsNone) return 'none';
  if (stored === computed) return 'ok';
  if (stored === checksumFold(pseudoSum)) return 'partial';
  return localSender ? 'offload' : 'bad';
}

/** isAcceptedChecksum reports whether a receiving kernel would take the packet (all but `bad`). */
export function isAcceptedChecksum(s: ChecksumState): boolean {
  return s !== 'bad';
}

/** Where an inner TCP/UDP checksum that holds only its pseudo-header sum is, and its complete value. */
interface InnerPartial {
  stored: number;
  completed: number;
}

/**
 * innerPartial looks at the IP packet at buf[ip..end) (an overlay's inner packet): when it carries
 * TCP or UDP directly, all present, and the checksum holds only the pseudo-header sum, it returns
 * that value and the complete checksum. Offsets per RFC 791 §3.1, RFC 8200 §3, RFC 9293 §3.1, RFC 768.
 */
function innerPartial(buf: Uint8Array, ip: number, end: number): InnerPartial | undefined {
  if (ip + 40 > end) return undefined;
  const v = buf[ip] >>> 4;
  let l4: number;
  let segLen: number;
  let proto: number;
  let pseudo: number;
  if (v === 4) {
    const ihl = (buf[ip] & 0x0f) * 4;
    const total = (buf[ip + 2] << 8) | buf[ip + 3];
    proto = buf[ip + 9];
    l4 = ip + ihl;
    segLen = total - ihl;
    if (ihl < 20 || ip + total > end) return undefined;
    pseudo = checksumAdd(buf, ip + 12, 8, 0) + proto + segLen;
  } else if (v === 6) {
    segLen = (buf[ip + 4] << 8) | buf[ip + 5];
    proto = buf[ip + 6];
    l4 = ip + 40;
    if (l4 + segLen > end) return undefined;
    pseudo = checksumAdd(buf, ip + 8, 32, 0) + proto + segLen;
  } else return undefined;
  const field = proto === 6 ? 16 : proto === IP_PROTO_UDP ? 6 : -1;
  if (field < 0 || segLen < field + 2) return undefined;
  const stored = (buf[l4 + field] << 8) | buf[l4 + field + 1];
  if (stored !== checksumFold(pseudo)) return undefined;
  let completed = checksumFinish(checksumAdd(buf, l4, segLen, pseudo) - stored);
  if (completed === 0 && proto === IP_PROTO_UDP) completed = 0xffff;
  return { stored, completed };
}

/**
 * overlayInnerIp is the offset of the inner IP packet of the overlay datagram whose UDP header is at
 * `udp`: after VXLAN's 8-byte header (RFC 7348 §5) and an untagged inner Ethernet header carrying
 * IPv4 or IPv6, or right after the UDP header for flannel-UDP. -1 when there is none.
 */
export function overlayInnerIp(buf: Uint8Array, udp: number, end: number, overlay: 'vxlan' | 'udp'): number {
  if (overlay === 'udp') return udp + 8;
  const eth = udp + 16;
  if (eth + 14 > end) return -1;
  const type = (buf[eth + 12] << 8) | buf[eth + 13];
  return type === 0x0800 || type === 0x86dd ? eth + 14 : -1;
}

/**
 * overlayChecksumState classifies an overlay datagram's checksum like `checksumState`, also
 * recognising local checksum offload: `sumWithoutField` is the unfolded sum of pseudo-header and
 * datagram with the checksum field left out; `innerIp` the inner IP packet's offset (-1: none).
 */
export function overlayChecksumState(
  buf: Uint8Array,
  stored: number,
  sumWithoutField: number,
  pseudoSum: number,
  zeroIsNone: boolean,
  localSender: boolean,
  innerIp: number,
  end: number,
): ChecksumState {
  let computed = checksumFinish(sumWithoutField);
  if (computed === 0) computed = 0xffff;
  const st = checksumState(stored, computed, pseudoSum, zeroIsNone, localSender);
  if ((st !== 'offload' && st !== 'bad') || innerIp < 0) return st;
  const inner = innerPartial(buf, innerIp, end);
  if (!inner) return st;
  let lco = checksumFinish(sumWithoutField - inner.stored + inner.completed);
  if (lco === 0) lco = 0xffff;
  return stored === lco ? 'partial' : st;
}

/**
 * udpChecksumStateIpv4 classifies the checksum of the UDP datagram at buf[off..off+len) (`len` = UDP
 * Length, all present) under the IPv4 pseudo-header of `src` and `dst` (host-order u32); with
 * `overlay`, the datagram's payload is that overlay and local checksum offload is recognised.
 */
export function udpChecksumStateIpv4(
  buf: Uint8Array,
  off: number,
  len: number,
  src: number,
  dst: number,
  localSender: boolean,
  overlay?: 'vxlan' | 'udp',
): ChecksumState {
  const stored = (buf[off + 6] << 8) | buf[off + 7];
  if (stored === 0) return 'none';
  const pseudo = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + IP_PROTO_UDP + len;
  // The sum over the datagram minus the stored field is the sum with the field taken as zero.
  const sum = checksumAdd(buf, off, len, pseudo) - stored;
  const innerIp = overlay ? overlayInnerIp(buf, off, off + len, overlay) : -1;
  return overlayChecksumState(buf, stored, sum, pseudo, true, localSender, innerIp, off + len);
}

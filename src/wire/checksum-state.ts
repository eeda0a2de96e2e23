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
 *   partial  the stored value is exactly the pseudo-header sum: left for checksum offload
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
  partial:
    'partial: pseudo-header sum only, left for checksum offload (captured before the NIC filled it in)',
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

/**
 * udpChecksumStateIpv4 classifies the checksum of the UDP datagram at buf[off..off+len) (`len` = UDP
 * Length, all present) under the IPv4 pseudo-header of `src` and `dst` (host-order u32).
 */
export function udpChecksumStateIpv4(
  buf: Uint8Array,
  off: number,
  len: number,
  src: number,
  dst: number,
  localSender: boolean,
): ChecksumState {
  const stored = (buf[off + 6] << 8) | buf[off + 7];
  if (stored === 0) return 'none';
  const pseudo = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + IP_PROTO_UDP + len;
  // The sum over the datagram minus the stored field is the sum with the field taken as zero.
  let computed = checksumFinish(checksumAdd(buf, off, len, pseudo) - stored);
  if (computed === 0) computed = 0xffff;
  return checksumState(stored, computed, pseudo, true, localSender);
}

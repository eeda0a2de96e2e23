/**
 * VxlanDecapper: `vxlanDecap` (vxlan-decap.ts, RFC 7348 §5) for the ingress hot path. The frame
 * almost every datagram is (flags exactly I, our VNI with the reserved byte zero, our VTEP MAC as
 * inner destination and not as source, an IPv4 header without options or an IPv6 header, with a
 * length inside the frame) is recognised from a few 32- and 16-bit words read through one
 * DataView over the batch buffer (made once per buffer); every other frame goes to `vxlanDecap`,
 * which counts its drop or anomaly. So the result and the counters are exactly `vxlanDecap`'s.
 *
 * Stages (per packet):
 *   1. bounds:  at least VXLAN 8 + Ethernet 14 + IPv4 20 bytes, inside the buffer
 *   2. VXLAN:   word 0 is flags 0x08 and three zero bytes (no RCO, no reserved bit); word 1 is our
 *               VNI and a zero reserved byte
 *   3. MACs:    inner destination == ours (one word + one half-word), inner source != ours
 *   4. inner:   EtherType IPv4 with version/IHL 0x45, or IPv6 with version 6; the IP length at
 *               least its header and at most the rest of the frame (`innerPadding` when shorter)
 *   anything else -> vxlanDecap (same checks, in its order, one drop reason each)
 *
 * Equality words are read little-endian against keys laid out the same way, so no byte order is
 * assumed of the host beyond what DataView defines; lengths are read big-endian (network order).
 */
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethernet';
import { IPV4_MIN_HEADER_SIZE } from '../wire/ipv4';
import { IPV6_HEADER_SIZE } from '../wire/ipv6';
import { ViewCache } from '../wire/view-cache';
import { VXLAN_FLAG_I } from '../wire/vxlan';
import { VXLAN_ENCAP_SIZE } from './constants';
import { Anomaly, type AnomalyCounters, type DropCounters } from './drop-reason';
import type { VxlanConfig } from './vxlan-config';
import { vxlanDecap } from './vxlan-decap';

/** Offsets from the start of the VXLAN header. */
const OFF_VNI_WORD = 4;
const OFF_DST_MAC = 8;
const OFF_SRC_MAC = 14;
const OFF_ETHERTYPE = 20;
/** Offsets from the inner IP header: IPv4 "Total Length", IPv6 "Payload Length". */
const OFF_IPV4_TOTAL_LENGTH = 2;
const OFF_IPV6_PAYLOAD_LENGTH = 4;
/** The shortest frame the word reads cover: VXLAN + Ethernet + an IPv4 header. */
const MIN_FAST_FRAME = VXLAN_ENCAP_SIZE + IPV4_MIN_HEADER_SIZE;

/** Little-endian reads of the wire bytes (b0 first). */
const le32 = (b0: number, b1: number, b2: number, b3: number): number =>
  b0 | (b1 << 8) | (b2 << 16) | (b3 << 24) | 0;
const le16 = (b0: number, b1: number): number => b0 | (b1 << 8);

/** FLAGS_WORD: flags = I, reserved bytes 1-3 zero. */
const FLAGS_WORD = le32(VXLAN_FLAG_I, 0, 0, 0);
const ETHERTYPE_IPV4_LE = le16(ETHERTYPE_IPV4 >>> 8, ETHERTYPE_IPV4 & 0xff);
const ETHERTYPE_IPV6_LE = le16(ETHERTYPE_IPV6 >>> 8, ETHERTYPE_IPV6 & 0xff);
/** Version 4, IHL 5. */
const IPV4_VIHL = 0x45;

/** VxlanDecapper decapsulates like `vxlanDecap` under one VxlanConfig; see the stages above. */
export class VxlanDecapper {
  private readonly views = new ViewCache();
  /** Word 1 of the VXLAN header: the VNI and a zero reserved byte. */
  private readonly vniWord: number;
  /** Our MAC's first four bytes and last two, as read little-endian. */
  private readonly mac0: number;
  private readonly mac4: number;

  constructor(readonly cfg: VxlanConfig) {
    const v = cfg.vni;
    this.vniWord = le32((v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff, 0);
    const m = cfg.localMac;
    this.mac0 = le32(m[0]!, m[1]!, m[2]!, m[3]!);
    this.mac4 = le16(m[4]!, m[5]!);
  }

  /**
   * decap is `vxlanDecap(buf, off, len, this.cfg, drops, anomalies)`: the offset of the inner IP
   * packet (off + 22), or -1 after incrementing exactly one `drops` slot.
   */
  decap(buf: Buffer, off: number, len: number, drops: DropCounters, anomalies: AnomalyCounters): number {
    if (len < MIN_FAST_FRAME || off < 0 || off + len > buf.length)
      return this.slow(buf, off, len, drops, anomalies);
    const v = this.views.of(buf);
    const mac0 = this.mac0;
    const mac4 = this.mac4;
    if (
      v.getInt32(off, true) !== FLAGS_WORD ||
      v.getInt32(off + OFF_VNI_WORD, true) !== this.vniWord ||
      v.getInt32(off + OFF_DST_MAC, true) !== mac0 ||
      v.getUint16(off + OFF_DST_MAC + 4, true) !== mac4 ||
      (v.getInt32(off + OFF_SRC_MAC, true) === mac0 && v.getUint16(off + OFF_SRC_MAC + 4, true) === mac4)
    )
      return this.slow(buf, off, len, drops, anomalies);
    const et = v.getUint16(off + OFF_ETHERTYPE, true);
    const inner = off + VXLAN_ENCAP_SIZE;
    const avail = len - VXLAN_ENCAP_SIZE;
    let ipLen: number;
    if (et === ETHERTYPE_IPV4_LE && buf[inner] === IPV4_VIHL) {
      ipLen = v.getUint16(inner + OFF_IPV4_TOTAL_LENGTH, false);
      if (ipLen < IPV4_MIN_HEADER_SIZE) return this.slow(buf, off, len, drops, anomalies);
    } else if (et === ETHERTYPE_IPV6_LE && buf[inner]! >>> 4 === 6) {
      // Shorter than its 40-byte header: the length below is over `avail`, so it goes to slow.
      ipLen = IPV6_HEADER_SIZE + v.getUint16(inner + OFF_IPV6_PAYLOAD_LENGTH, false);
    } else {
      return this.slow(buf, off, len, drops, anomalies);
    }
    if (ipLen > avail) return this.slow(buf, off, len, drops, anomalies);
    if (ipLen !== avail) anomalies[Anomaly.innerPadding]++;
    return inner;
  }

  /** slow is every frame the words above did not settle: the reference checks, in their order. */
  private slow(
    buf: Buffer,
    off: number,
    len: number,
    drops: DropCounters,
    anomalies: AnomalyCounters,
  ): number {
    return vxlanDecap(buf, off, len, this.cfg, drops, anomalies);
  }
}

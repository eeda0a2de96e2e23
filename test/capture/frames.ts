/**
 * frames: hand-built underlay frames for the summarize tests (checksums left zero: summarize
 * does not verify them).
 */

/** mac parses `aa:bb:cc:dd:ee:ff`. */
export function mac(s: string): Buffer {
  return Buffer.from(s.split(':').map((h) => parseInt(h, 16)));
}

/** ip4 parses a dotted quad. */
export function ip4(s: string): Buffer {
  return Buffer.from(s.split('.').map(Number));
}

/** eth builds an Ethernet II header + payload. */
export function eth(dst: string, src: string, type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(14);
  mac(dst).copy(h, 0);
  mac(src).copy(h, 6);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
}

/** ipv4 builds an IPv4 header (20 bytes) + payload. */
export function ipv4(
  src: string,
  dst: string,
  proto: number,
  payload: Buffer,
  o: { df?: boolean; fragWord?: number; ttl?: number; id?: number } = {},
): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h.writeUInt16BE(o.id ?? 0x1234, 4);
  h.writeUInt16BE(o.fragWord ?? (o.df ? 0x4000 : 0), 6);
  h[8] = o.ttl ?? 64;
  h[9] = proto;
  ip4(src).copy(h, 12);
  ip4(dst).copy(h, 16);
  return Buffer.concat([h, payload]);
}

/** udp builds a UDP header + payload. */
export function udp(sport: number, dport: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

/** icmpEcho builds an ICMP echo request (type 8) or reply (type 0) with `dataLen` payload bytes. */
export function icmpEcho(type: 0 | 8, id: number, seq: number, dataLen = 56): Buffer {
  const b = Buffer.alloc(8 + dataLen);
  b[0] = type;
  b.writeUInt16BE(id, 4);
  b.writeUInt16BE(seq, 6);
  return b;
}

/** tcp builds a 20-byte TCP header with `flags` + payload. */
export function tcp(
  sport: number,
  dport: number,
  seq: number,
  ack: number,
  flags: number,
  payload = Buffer.alloc(0),
): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(seq >>> 0, 4);
  h.writeUInt32BE(ack >>> 0, 8);
  h[12] = 5 << 4;
  h[13] = flags;
  h.writeUInt16BE(64240, 14);
  return Buffer.concat([h, payload]);
}

/** vxlanHdr builds the 8-byte VXLAN header. */
export function vxlanHdr(vni: number, flags = 0x08): Buffer {
  const h = Buffer.alloc(8);
  h[0] = flags;
  h[4] = (vni >> 16) & 0xff;
  h[5] = (vni >> 8) & 0xff;
  h[6] = vni & 0xff;
  return h;
}

/** UNDERLAY_A_MAC and UNDERLAY_B_MAC are the outer MACs used by the builders below. */
export const UNDERLAY_A_MAC = '02:00:c0:00:02:01';
export const UNDERLAY_B_MAC = '02:00:c0:00:02:02';

/** vxlanFrame wraps an inner Ethernet frame into outer Ethernet/IPv4/UDP/VXLAN, 192.0.2.1 -> 192.0.2.2. */
export function vxlanFrame(
  inner: Buffer,
  o: { vni?: number; flags?: number; sport?: number; dport?: number } = {},
): Buffer {
  const payload = Buffer.concat([vxlanHdr(o.vni ?? 1, o.flags ?? 0x08), inner]);
  return eth(
    UNDERLAY_B_MAC,
    UNDERLAY_A_MAC,
    0x0800,
    ipv4('192.0.2.1', '192.0.2.2', 17, udp(o.sport ?? 49321, o.dport ?? 8472, payload)),
  );
}

/** flannelUdpFrame wraps an inner IP packet into outer Ethernet/IPv4/UDP 8285. */
export function flannelUdpFrame(innerIp: Buffer, port = 8285): Buffer {
  return eth(
    UNDERLAY_B_MAC,
    UNDERLAY_A_MAC,
    0x0800,
    ipv4('192.0.2.1', '192.0.2.2', 17, udp(port, port, innerIp)),
  );
}

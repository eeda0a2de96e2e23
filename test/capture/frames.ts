/**
 * frames: hand-built underlay frames for the summarize and explain tests (checksums left zero:
 * the one-line summary does not verify them).
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

/** ipv6 builds an IPv6 fixed header (40 bytes, hop limit 64) + payload; addresses in hex. */
export function ipv6(
  nextHeader: number,
  payload: Buffer,
  src = 'fd000000000000000000000000000001',
  dst = 'fd000000000000000000000000000002',
): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(payload.length, 4);
  h[6] = nextHeader;
  h[7] = 64;
  Buffer.from(src, 'hex').copy(h, 8);
  Buffer.from(dst, 'hex').copy(h, 24);
  return Buffer.concat([h, payload]);
}

/** ipv6Ext builds an 8-byte IPv6 extension header (hop-by-hop or destination options: PadN only). */
export function ipv6Ext(nextHeader: number): Buffer {
  return Buffer.from([nextHeader, 0, 1, 4, 0, 0, 0, 0]);
}

/** ipv6Frag builds an IPv6 fragment header: `offset` in 8-byte units, M flag, identification. */
export function ipv6Frag(nextHeader: number, offset: number, more: boolean, id: number): Buffer {
  const h = Buffer.alloc(8);
  h[0] = nextHeader;
  h.writeUInt16BE((offset << 3) | (more ? 1 : 0), 2);
  h.writeUInt32BE(id, 4);
  return h;
}

/** tagged builds an Ethernet header with 802.1Q/802.1ad tags (VLAN ID 100 each) + payload. */
export function tagged(dst: string, src: string, tpids: number[], type: number, payload: Buffer): Buffer {
  const tags = Buffer.alloc(4 * tpids.length);
  tpids.forEach((t, i) => {
    tags.writeUInt16BE(t, 4 * i);
    tags.writeUInt16BE(100, 4 * i + 2);
  });
  const h = eth(dst, src, tpids[0] ?? type, Buffer.alloc(0)).subarray(0, 12);
  const t = Buffer.alloc(2);
  t.writeUInt16BE(type, 0);
  return Buffer.concat([h, tags, t, payload]);
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

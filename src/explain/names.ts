/**
 * Names and value formatting for the byte-by-byte view: protocol and port names, DSCP/ECN names,
 * Wireshark-style bit patterns, checksum verdicts. Pure string helpers; no frame parsing here.
 */
import type { ChecksumState } from '../wire/checksum-state';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN } from '../wire/ethernet';
import { IP_PROTO_ICMP, IP_PROTO_ICMPV6, IP_PROTO_TCP, IP_PROTO_UDP } from '../wire/ipv4';
import { VLAN } from './extra-headers';
import type { ExplainBits, Status } from './model';

/** SERVICE_PORTS names well-known UDP/TCP ports in the port fields. */
export const SERVICE_PORTS: Record<number, string> = {
  53: 'DNS',
  67: 'DHCP server',
  68: 'DHCP client',
  123: 'NTP',
  2379: 'etcd client',
  4789: 'VXLAN, IANA port',
  8285: 'flannel-UDP',
  8472: 'VXLAN, Linux/flannel default',
};

/** ETHERTYPES names EtherType values. */
export const ETHERTYPES: Record<number, string> = {
  [ETHERTYPE_IPV4]: 'IPv4',
  [ETHERTYPE_ARP]: 'ARP',
  [ETHERTYPE_VLAN]: '802.1Q VLAN tag',
  [ETHERTYPE_IPV6]: 'IPv6',
  [VLAN.TPID_QINQ]: '802.1ad service tag',
  0x88cc: 'LLDP',
};

/** IP_PROTOCOLS names IPv4 Protocol / IPv6 Next Header values. */
export const IP_PROTOCOLS: Record<number, string> = {
  0: 'IPv6 hop-by-hop options',
  [IP_PROTO_ICMP]: 'ICMP',
  2: 'IGMP',
  4: 'IPv4-in-IPv4',
  [IP_PROTO_TCP]: 'TCP',
  [IP_PROTO_UDP]: 'UDP',
  41: 'IPv6-in-IPv4',
  43: 'IPv6 routing header',
  44: 'IPv6 fragment header',
  47: 'GRE',
  50: 'ESP',
  51: 'AH',
  [IP_PROTO_ICMPV6]: 'ICMPv6',
  59: 'no next header',
  60: 'IPv6 destination options',
  132: 'SCTP',
};

/** ICMP_TYPES names ICMPv4 types (RFC 792). */
export const ICMP_TYPES: Record<number, string> = {
  0: 'echo reply',
  3: 'destination unreachable',
  4: 'source quench (deprecated)',
  5: 'redirect',
  8: 'echo request',
  11: 'time exceeded',
  12: 'parameter problem',
  13: 'timestamp',
  14: 'timestamp reply',
};

/** ICMP_UNREACH_CODES names destination-unreachable codes (RFC 792, RFC 1122, RFC 1812). */
export const ICMP_UNREACH_CODES: Record<number, string> = {
  0: 'net unreachable',
  1: 'host unreachable',
  2: 'protocol unreachable',
  3: 'port unreachable',
  4: 'fragmentation needed and DF set',
  5: 'source route failed',
  9: 'network administratively prohibited',
  10: 'host administratively prohibited',
  13: 'communication administratively prohibited',
};

/** ICMPV6_TYPES names ICMPv6 types (RFC 4443, RFC 4861). */
export const ICMPV6_TYPES: Record<number, string> = {
  1: 'destination unreachable',
  2: 'packet too big',
  3: 'time exceeded',
  4: 'parameter problem',
  128: 'echo request',
  129: 'echo reply',
  133: 'router solicitation',
  134: 'router advertisement',
  135: 'neighbor solicitation',
  136: 'neighbor advertisement',
};

const DSCP_NAMES: Record<number, string> = {
  0: 'CS0, best effort',
  8: 'CS1',
  10: 'AF11',
  16: 'CS2',
  18: 'AF21',
  24: 'CS3',
  26: 'AF31',
  32: 'CS4',
  34: 'AF41',
  40: 'CS5',
  46: 'EF, expedited forwarding',
  48: 'CS6, network control',
  56: 'CS7',
};

/** dscpName renders a DSCP value with its per-hop behaviour name when it has one. */
export function dscpName(d: number): string {
  const n = DSCP_NAMES[d];
  return n ? `${d} (${n})` : String(d);
}

/** ECN_NAMES names the two ECN bits (RFC 3168 §5). */
export const ECN_NAMES = ['Not-ECT', 'ECT(1)', 'ECT(0)', 'CE (congestion experienced)'];

/** LINUX_PACKET_TYPES names the Linux cooked capture packet types (PACKET_HOST ... PACKET_OUTGOING). */
export const LINUX_PACKET_TYPES = ['to us', 'broadcast', 'multicast', 'to another host', 'sent by us'];

/** hex renders `n` as `0x` and `digits` hex digits. */
export function hex(n: number, digits: number): string {
  return '0x' + n.toString(16).padStart(digits, '0');
}

/** portName renders a port with its service name when it has one. */
export function portName(p: number): string {
  const s = SERVICE_PORTS[p];
  return s ? `${p} (${s})` : String(p);
}

/** HEX_DIGIT holds the character codes of the lower-case hex digits, for macText. */
const HEX_DIGIT = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
const COLON = 0x3a;

/**
 * macText renders the MAC at buf[off..off+6) as `aa:bb:cc:dd:ee:ff`, the same text as
 * `bufferToMac` (src/net/addr.ts), as one string from its 17 character codes: the capture line
 * formats up to four MACs per frame, and building each from six padded parts and a join (or from
 * concatenations) allocated about 400 bytes of intermediate strings.
 */
export function macText(buf: Uint8Array, off: number): string {
  const a = buf[off];
  const b = buf[off + 1];
  const c = buf[off + 2];
  const d = buf[off + 3];
  const e = buf[off + 4];
  const f = buf[off + 5];
  const h = HEX_DIGIT;
  return String.fromCharCode(
    h[a >> 4],
    h[a & 15],
    COLON,
    h[b >> 4],
    h[b & 15],
    COLON,
    h[c >> 4],
    h[c & 15],
    COLON,
    h[d >> 4],
    h[d & 15],
    COLON,
    h[e >> 4],
    h[e & 15],
    COLON,
    h[f >> 4],
    h[f & 15],
  );
}

/** macKind says whether the MAC at buf[off..off+6) is broadcast, multicast or unicast, local or OUI. */
export function macKind(buf: Uint8Array, off: number): string {
  let all = true;
  for (let i = 0; i < 6; i++) if (buf[off + i] !== 0xff) all = false;
  if (all) return 'broadcast';
  const b0 = buf[off];
  const group = b0 & 1 ? 'multicast' : 'unicast';
  const local = b0 & 2 ? 'locally administered' : 'globally unique (OUI)';
  return `${group}, ${local}`;
}

/** bitPattern draws a Wireshark-style bit mask: `.1.. ....` for `value` under `mask` in `width` bits. */
function bitPattern(value: number, mask: number, width: number): string {
  let s = '';
  for (let i = width - 1; i >= 0; i--) {
    s += (mask >>> i) & 1 ? ((value >>> i) & 1 ? '1' : '0') : '.';
    if (i % 4 === 0 && i > 0) s += ' ';
  }
  return s;
}

/** bits breaks the sub-field `mask` out of a `width`-bit field holding `value`. */
export function bits(
  value: number,
  mask: number,
  width: number,
  name: string,
  v: string,
  status?: Status,
): ExplainBits {
  const b: ExplainBits = { pattern: bitPattern(value, mask, width), name, value: v };
  if (status) b.status = status;
  return b;
}

/** printable quotes buf[off..off+len) as text when it mostly is text, else returns ''. */
export function printable(buf: Uint8Array, off: number, len: number, max = 40): string {
  let s = '';
  const n = Math.min(len, max);
  let text = 0;
  for (let i = 0; i < n; i++) {
    const c = buf[off + i];
    if (c >= 0x20 && c < 0x7f) {
      s += String.fromCharCode(c);
      text++;
    } else if (c === 0x0a) s += '\\n';
    else if (c === 0x0d) s += '\\r';
    else if (c === 0x09) s += '\\t';
    else s += '.';
  }
  if (n > 0 && text / n < 0.6) return '';
  return `"${s}${len > max ? '…' : ''}"`;
}

/**
 * checksumValue renders a stored checksum against the computed one (undefined: not verifiable).
 * With a transport checksum `state` (src/wire/checksum-state.ts), a wrong value is worded the way
 * Wireshark does: partial (the pseudo-header sum left for offload), bad probably offload, or bad.
 */
export function checksumValue(
  stored: number,
  computed: number | undefined,
  why?: string,
  state?: ChecksumState,
): [string, Status | undefined] {
  if (computed === undefined)
    return [`${hex(stored, 4)} (not verified: ${why ?? 'incomplete data'})`, undefined];
  if (stored === computed) return [`${hex(stored, 4)} valid`, 'ok'];
  const wrong = `${hex(stored, 4)} INVALID, computed ${hex(computed, 4)}`;
  if (state === 'partial')
    return [
      `${hex(stored, 4)} partial: left for checksum offload to complete (computed ${hex(computed, 4)} from the captured bytes)`,
      'warn',
    ];
  if (state === 'offload') return [`${wrong}: bad, probably offload (sent from a local address)`, 'warn'];
  return [wrong, 'bad'];
}

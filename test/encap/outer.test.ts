import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_VXLAN_PORT,
  HEADROOM,
  OUTER_IPV4_UDP_SIZE,
  UDP_OVERHEAD,
  VXLAN_ENCAP_SIZE,
  VXLAN_OVERHEAD,
  VXLAN_OVERHEAD_IPV6,
} from '../../src/encap/constants';
import {
  DEFAULT_OUTER_OPTIONS,
  resetIpId,
  writeOuterEthernet,
  writeOuterIPv4Udp,
} from '../../src/encap/outer';
import { vxlanEncap } from '../../src/encap/vxlan-encap';
import { ethEtherType } from '../../src/wire/ethernet';
import {
  ipv4ChecksumValid,
  ipv4DontFragment,
  ipv4Dst,
  ipv4Id,
  ipv4Protocol,
  ipv4Src,
  ipv4TotalLength,
  ipv4Ttl,
  isValidIpv4,
} from '../../src/wire/ipv4';
import { udpChecksum, udpChecksumValidIpv4, udpDstPort, udpLength, udpSrcPort } from '../../src/wire/udp';
import { CFG_A, MAC_A, MAC_B, SLOT } from './frames';
import { writeV4 } from '../../src/testing/packets';

const SRC = 0xc0000201; // 192.0.2.1
const DST = 0xc0000202; // 192.0.2.2

test('overhead arithmetic: VXLAN 20+8+8+14 = 50, flannel-UDP 20+8 = 28, headroom fits the largest prefix', () => {
  assert.equal(VXLAN_ENCAP_SIZE, 22);
  assert.equal(OUTER_IPV4_UDP_SIZE, 28);
  assert.equal(VXLAN_OVERHEAD, 50);
  assert.equal(UDP_OVERHEAD, 28);
  assert.equal(VXLAN_OVERHEAD_IPV6, 70);
  assert.ok(HEADROOM >= 14 + 40 + 8 + 22, 'outer Ethernet + IPv6 + UDP + VXLAN + inner Ethernet');
});

for (const udpChecksumOn of [false, true]) {
  test(`writeOuterIPv4Udp over a VXLAN frame (UDP checksum ${udpChecksumOn ? 'computed' : 'zero'})`, () => {
    const buf = Buffer.alloc(SLOT);
    const len = writeV4(buf, HEADROOM, { payload: 100 });
    const start = vxlanEncap(buf, HEADROOM, len, MAC_B, CFG_A);
    const payloadLen = HEADROOM + len - start;
    resetIpId(41);
    const opts = { ...DEFAULT_OUTER_OPTIONS, udpChecksum: udpChecksumOn };
    const ip = writeOuterIPv4Udp(buf, start, payloadLen, SRC, DST, 50000, DEFAULT_VXLAN_PORT, opts);
    assert.equal(ip, start - 28);
    assert.equal(HEADROOM + len - ip, len + VXLAN_OVERHEAD, 'the 50 bytes of overhead');
    assert.ok(isValidIpv4(buf, ip, len + 50));
    assert.ok(ipv4ChecksumValid(buf, ip));
    assert.equal(ipv4TotalLength(buf, ip), len + 50);
    assert.equal(ipv4Ttl(buf, ip), 64);
    assert.equal(ipv4DontFragment(buf, ip), false, 'DF clear, as Linux vxlan df unset');
    assert.equal(ipv4Protocol(buf, ip), 17);
    assert.equal(ipv4Id(buf, ip), 42, 'IP ID counter');
    assert.equal(ipv4Src(buf, ip), SRC);
    assert.equal(ipv4Dst(buf, ip), DST);
    const udp = ip + 20;
    assert.equal(udpSrcPort(buf, udp), 50000);
    assert.equal(udpDstPort(buf, udp), 8472);
    assert.equal(udpLength(buf, udp), payloadLen + 8);
    assert.equal(udpChecksum(buf, udp) !== 0, udpChecksumOn);
    assert.ok(udpChecksumValidIpv4(buf, udp, payloadLen + 8, SRC, DST));
    if (udpChecksumOn) {
      buf[HEADROOM + 30] ^= 4;
      assert.ok(!udpChecksumValidIpv4(buf, udp, payloadLen + 8, SRC, DST), 'checksum covers the payload');
    }
  });
}

test('writeOuterIPv4Udp: IP ID increments and wraps at 16 bits; options apply', () => {
  const buf = Buffer.alloc(200);
  resetIpId(0xfffe);
  const opts = { ttl: 5, tos: 0xb8, df: true, udpChecksum: false };
  const a = writeOuterIPv4Udp(buf, 100, 10, SRC, DST, 1, 2, opts);
  assert.equal(ipv4Id(buf, a), 0xffff);
  writeOuterIPv4Udp(buf, 100, 10, SRC, DST, 1, 2, opts);
  assert.equal(ipv4Id(buf, a), 0);
  assert.equal(ipv4Ttl(buf, a), 5);
  assert.equal(buf[a + 1], 0xb8);
  assert.equal(ipv4DontFragment(buf, a), true);
  assert.ok(ipv4ChecksumValid(buf, a));
});

test('writeOuterEthernet prepends 14 bytes', () => {
  const buf = Buffer.alloc(64);
  const s = writeOuterEthernet(buf, 30, MAC_B, MAC_A, 0x0800);
  assert.equal(s, 16);
  assert.equal(buf.subarray(16, 30).toString('hex'), '0a00000000020a00000000010800');
  assert.equal(ethEtherType(buf, s), 0x0800);
});

/**
 * Fixtures of the encap tests and fuzzers: two nodes' VTEP MACs and VXLAN configs, and the slot
 * size their packets (src/testing/packets.ts `writeV4` / `writeV6`, at HEADROOM) are written in.
 */
import { HEADROOM } from '../../src/encap/constants';
import { makeVxlanConfig, type VxlanConfig } from '../../src/encap/vxlan-config';

/** MAC_A is node A's VTEP MAC; MAC_B node B's (both locally administered unicast). */
export const MAC_A = Buffer.from('0a0000000001', 'hex');
export const MAC_B = Buffer.from('0a0000000002', 'hex');

/** CFG_A / CFG_B are the two nodes' VXLAN configs (VNI 1, default port range). */
export const CFG_A: VxlanConfig = makeVxlanConfig({ localMac: MAC_A });
export const CFG_B: VxlanConfig = makeVxlanConfig({ localMac: MAC_B });

/** SLOT is the test slot size: headroom + a 1500-byte packet + slack. */
export const SLOT = HEADROOM + 1600;

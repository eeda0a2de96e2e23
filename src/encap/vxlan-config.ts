/**
 * VxlanConfig: the per-device settings the VXLAN encapsulator and decapsulator read per packet.
 * Built once (control path, validated here) and then only read on the hot path.
 */
import { ConfigError } from '../errors';
import { VXLAN_MAX_VNI } from '../wire/vxlan';
import { DEFAULT_SRC_PORT_MAX, DEFAULT_SRC_PORT_MIN, DEFAULT_VNI } from './constants';

/** VxlanConfig is the VXLAN device configuration shared by encap and decap. */
export interface VxlanConfig {
  /** VXLAN Network Identifier, 0..16777215 (flannel default 1). */
  vni: number;
  /** Our VTEP MAC (6 bytes): inner source on send; inner destination we accept. */
  localMac: Buffer;
  /** Lowest outer UDP source port for flow hashing (default 49152). */
  srcPortMin: number;
  /** Highest outer UDP source port for flow hashing (default 65535). */
  srcPortMax: number;
  /**
   * VXLAN Remote Checksum Offload (`--vxlan-rco`, default false): send partial inner checksums
   * with the RCO fields, and accept frames that carry them (else they are dropped).
   */
  rco: boolean;
}

/**
 * makeVxlanConfig validates and completes a VxlanConfig; throws ConfigError on a bad VNI, MAC or
 * port range. The MAC must be unicast: a group MAC as our VTEP address would never match on decap.
 */
export function makeVxlanConfig(c: Partial<VxlanConfig> & { localMac: Buffer }): VxlanConfig {
  const vni = c.vni ?? DEFAULT_VNI;
  const srcPortMin = c.srcPortMin ?? DEFAULT_SRC_PORT_MIN;
  const srcPortMax = c.srcPortMax ?? DEFAULT_SRC_PORT_MAX;
  if (!Number.isInteger(vni) || vni < 0 || vni > VXLAN_MAX_VNI) {
    throw new ConfigError('vni', 'must be an integer in 0..16777215', String(vni));
  }
  if (!Buffer.isBuffer(c.localMac) || c.localMac.length !== 6) {
    throw new ConfigError('localMac', 'must be a 6-byte MAC address');
  }
  if ((c.localMac[0] & 1) !== 0) {
    throw new ConfigError('localMac', 'must be a unicast MAC (group bit clear)');
  }
  if (
    !Number.isInteger(srcPortMin) ||
    !Number.isInteger(srcPortMax) ||
    srcPortMin < 1 ||
    srcPortMax > 65535
  ) {
    throw new ConfigError('srcPort', 'must be integers in 1..65535', `${srcPortMin}-${srcPortMax}`);
  }
  if (srcPortMin > srcPortMax) {
    throw new ConfigError('srcPort', 'min must not exceed max', `${srcPortMin}-${srcPortMax}`);
  }
  return { vni, localMac: Buffer.from(c.localMac), srcPortMin, srcPortMax, rco: c.rco === true };
}

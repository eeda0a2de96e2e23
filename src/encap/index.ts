/**
 * Encapsulation hot path: VXLAN (RFC 7348) and flannel-UDP encap/decap, flow-hashed source ports,
 * outer headers, ICMP replies, drop reasons. Import from here: `import { vxlanEncap } from '../encap'`.
 */
export * from './constants';
export * from './drop-reason';
export * from './flannel-udp';
export * from './flow-hash';
export * from './icmp-reply';
export * from './outer';
export * from './vxlan-config';
export * from './vxlan-decap';
export * from './vxlan-decapper';
export * from './vxlan-encap';

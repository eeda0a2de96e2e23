/**
 * Wire formats: one module per header, pure and allocation-free on the accessors. Import a single
 * header module (`../wire/ipv4`) or everything from here.
 */
export * from './arp';
export * from './checksum';
export * from './checksum-state';
export * from './ethernet';
export * from './flow-key';
export * from './icmpv4';
export * from './ip';
export * from './ipv4';
export * from './ipv6';
export * from './tcp';
export * from './udp';
export * from './virtio-net-hdr';
export * from './vxlan';

/**
 * offload: TUN and UDP offloads in TypeScript: the virtio-net header, TCP segmentation of
 * TUN super-packets (TSO), coalescing of received TCP segments into super-packets (GRO), and the
 * batched copy-and-checksum plan both use. See docs/performance.md.
 */
export * from './virtio-net-hdr';
export * from './tcp';
export * from './csum-copy';
export * from './tso';
export * from './tcp-coalesce';
export * from './offload-egress';
export * from './offload-ingress';
export * from './partial-csum';

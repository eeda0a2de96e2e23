/**
 * offload: the TUN and UDP offload algorithms in TypeScript: TCP segmentation of TUN
 * super-packets (TSO), coalescing of received TCP segments into super-packets (GRO), completion of
 * partial checksums, coalescing of received UDP datagrams into USO super-packets, and the batched
 * copy-and-checksum plan they use. The headers they read live
 * in src/wire (tcp.ts, virtio-net-hdr.ts); the drivers that run them live in src/dataplane. See
 * docs/performance.md.
 */
export * from './csum-copy';
export * from './tso';
export * from './tcp-coalesce';
export * from './partial-csum';
export * from './udp-coalesce';

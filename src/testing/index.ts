/**
 * In-memory fakes of the dataplane's I/O seams (TUN device, UDP sockets) and packet builders, so a
 * two-node overlay runs in one process in unit tests and benchmarks. Never used on a real path.
 */
export * from './channel-socket';
export * from './channel-tun';
export * from './coalesce-batch';
export * from './egress-rig';
export * from './packets';
export * from './replay-devices';
export * from './routes';
export * from './vnet-tun';

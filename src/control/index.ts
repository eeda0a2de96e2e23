/**
 * control: weft's flannel-compatible control plane as a library — flags, network config, lease
 * stores (embedded directory, etcd v3), subnet allocation, lease lifecycle, subnet.env.
 *
 * A daemon uses it in this order:
 *   const flags = parseFlags(argv, process.env);
 *   const store = openStore(flags);
 *   const { config } = await loadNetworkConfig(store, flags);
 *   const previous = await readSubnetEnv(flags.subnetFile);
 *   const mgr = new LeaseManager({ store, config, attrs, previous, ttlSeconds, renewMarginMs });
 *   const lease = await mgr.acquire();
 *   await writeSubnetEnv(flags.subnetFile, { network, subnet: lease.subnet, ..., mtu, ipMasq });
 *   const { leases, cursor } = await store.listLeases();
 *   void watchPeers({ store, ownKey: lease.key, ownAttrs: attrs, cursor, initial: leases,
 *                     onChange: (ev, peers) => router.swap(RouteTable.build(leasesToPeers(peers.values(), backend))),
 *                     onLost: () => shutdown() });
 *   mgr.startRenewal();
 */

export * from '../net/addr';
export * from './net-config';
export * from './flags';
export * from './lease';
export * from './store';
export { EmbeddedStore, EmbeddedStoreOptions } from './embedded-store';
export { EtcdStore, EtcdStoreOptions } from './etcd-store';
export * from './allocator';
export * from './lease-manager';
export * from './lease-watcher';
export * from './subnet-env';
export * from './peers';
export * from './lease-policy';
export * from './open-store';
export * from './store-choice';

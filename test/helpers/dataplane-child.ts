/**
 * dataplane-child: a DataplaneNode in its own process, for namespace tests that need what `weft
 * link` has no flag for (peer changes at run time). Run as
 *   ip netns exec NS node dist/test/helpers/dataplane-child.js '<ChildConfig JSON>'
 * It prints `ready` once forwarding, and answers stdin lines:
 *   peers <PeerJson[]>   -> updatePeers, then `peers ok`
 *   stats                -> refreshStats, then `stats <DataplaneStats JSON>`
 * SIGTERM stops the node (devices and routes removed) and exits 0.
 */
import { createInterface } from 'node:readline';
import { DataplaneNode, type NodeConfig } from '../../src/dataplane/node';
import { ipv4ToU32, macToBuffer } from '../../src/net/addr';
import type { PeerSpec } from '../../src/route/route-table';

/** PeerJson is a peer as the test writes it. */
export interface PeerJson {
  subnet: string;
  publicIp: string;
  vtepMac: string;
}

/** ChildConfig is NodeConfig with JSON-friendly MAC and peers. */
export type ChildConfig = Omit<NodeConfig, 'vtepMac' | 'peers'> & {
  vtepMac: string;
  peers: PeerJson[];
  /** Race: call updatePeers with these peers `racePeersAfterMs` after start() begins. */
  racePeers?: PeerJson[];
  racePeersAfterMs?: number;
};

/** toPeerSpecs converts the test's peers for DataplaneNode. */
export function toPeerSpecs(peers: PeerJson[], backend: NodeConfig['backend']): PeerSpec[] {
  return peers.map((p) => ({
    subnet: p.subnet,
    publicIp: p.publicIp,
    publicIpU32: ipv4ToU32(p.publicIp),
    vtepMac: macToBuffer(p.vtepMac),
    backend,
  }));
}

async function main(): Promise<void> {
  const c = JSON.parse(process.argv[2] ?? '') as ChildConfig;
  const node = new DataplaneNode({
    ...c,
    vtepMac: macToBuffer(c.vtepMac),
    peers: toPeerSpecs(c.peers, c.backend),
  });
  const started = node.start();
  if (c.racePeers) {
    await new Promise((r) => setTimeout(r, c.racePeersAfterMs ?? 0));
    await node.updatePeers(toPeerSpecs(c.racePeers, c.backend));
  }
  await started;
  process.on('SIGTERM', () => {
    void node.stop().then(() => process.exit(0));
  });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    void (async () => {
      if (line.startsWith('peers ')) {
        await node.updatePeers(toPeerSpecs(JSON.parse(line.slice(6)) as PeerJson[], c.backend));
        process.stdout.write('peers ok\n');
      } else if (line === 'stats') {
        await node.refreshStats();
        process.stdout.write(`stats ${JSON.stringify(node.stats())}\n`);
      }
    })().catch((err: unknown) => process.stdout.write(`error ${String(err)}\n`));
  });
  process.stdout.write('ready\n');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`dataplane-child: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}

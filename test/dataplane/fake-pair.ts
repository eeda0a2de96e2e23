/**
 * fake-pair: two DataplaneNodes over in-memory fakes (src/testing), shared by the dataplane tests.
 *
 *   ChannelTun A -> [A egress] -> ChannelUdp 192.0.2.1 ~~> 192.0.2.2 -> [B ingress] -> ChannelTun B
 *
 * A is 10.244.0.1 (lease 10.244.0.0/24), B is 10.244.1.1 (lease 10.244.1.0/24); each knows the other.
 */
import assert from 'node:assert/strict';
import { DataplaneNode, type NodeConfig } from '../../src/dataplane/node';
import { macToBuffer } from '../../src/net/addr';
import type { Backend } from '../../src/route/peer';
import { ChannelSocketPair, ChannelTun, peerSpec } from '../../src/testing';

/** MAC_A and MAC_B are the VTEP MACs of nodes A and B. */
export const MAC_A = macToBuffer('0e:00:00:00:0a:01');
export const MAC_B = macToBuffer('0e:00:00:00:0b:02');

/** settle lets queued channel deliveries and the nodes' read loops run (two event-loop turns). */
export function settle(): Promise<void> {
  return new Promise((r) => setImmediate(() => setImmediate(r)));
}

/** until settles until `cond` holds, failing the test after 200 rounds. */
export async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (cond()) return;
    await settle();
  }
  assert.fail(`timed out waiting for ${what}`);
}

/**
 * pair builds (does not start) nodes A and B for `backend` with io 'batch'; `extraPeersA` are more
 * peers for A and `configA` overrides A's config (e.g. flowCounters).
 */
export function pair(
  backend: Backend,
  extraPeersA: NodeConfig['peers'] = [],
  configA: Partial<NodeConfig> = {},
) {
  const port = backend === 'vxlan' ? 8472 : 8285;
  const sock = ChannelSocketPair('192.0.2.1', '192.0.2.2', port);
  const tunA = new ChannelTun('a0');
  const tunB = new ChannelTun('b0');
  const peer = (subnet: string, ip: string, mac: Buffer) => peerSpec(subnet, ip, backend, mac);
  const base = { backend, vni: 1, port, io: 'batch' as const };
  const a = new DataplaneNode(
    {
      ...base, dev: 'a0', local: '192.0.2.1', address: '10.244.0.1/32', vtepMac: MAC_A,
      peers: [peer('10.244.1.0/24', '192.0.2.2', MAC_B), ...extraPeersA], ...configA,
    },
    { tun: tunA, io: sock.a },
  ); // prettier-ignore
  const b = new DataplaneNode(
    {
      ...base, dev: 'b0', local: '192.0.2.2', address: '10.244.1.1/32', vtepMac: MAC_B,
      peers: [peer('10.244.0.0/24', '192.0.2.1', MAC_A)],
    },
    { tun: tunB, io: sock.b },
  ); // prettier-ignore
  return { a, b, tunA, tunB, sock, peer };
}

/**
 * KubeStore's reflector logic against a scripted HTTP API server (a fake: the real server cannot
 * be made to compact on demand): list, watch from the list's resourceVersion with bookmarks,
 * 410 Gone -> relist as a snapshot, the update filter, own node ignored, a dropped stream resumed
 * from the last resourceVersion.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { KubeClient } from '../../../src/control/kube/client';
import { KubeStore } from '../../../src/control/kube/kube-store';
import { LeaseWatchResult } from '../../../src/control/store';

const P = 'flannel.alpha.coreos.com';
function node(
  name: string,
  cidr: string,
  ip: string,
  rv: string,
  extra: Record<string, string> = {},
): unknown {
  return {
    metadata: {
      name,
      resourceVersion: rv,
      annotations: {
        [`${P}/kube-subnet-manager`]: 'true',
        [`${P}/backend-type`]: 'vxlan',
        [`${P}/backend-data`]: '{"VNI":1,"VtepMAC":"0a:00:00:00:00:01"}',
        [`${P}/public-ip`]: ip,
        ...extra,
      },
    },
    spec: { podCIDR: cidr, podCIDRs: [cidr] },
  };
}

test('list, watch, unrelated update filtered, 410 relist snapshot, bookmark, resume', async (t) => {
  const watches: string[] = [];
  let lists = 0;
  const srv = http.createServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    if (u.searchParams.get('watch') !== 'true') {
      lists++;
      res.end(
        JSON.stringify(
          lists === 1
            ? {
                metadata: { resourceVersion: '10' },
                items: [
                  node('me', '10.244.0.0/24', '192.0.2.9', '9'),
                  node('a', '10.244.1.0/24', '192.0.2.1', '5'),
                ],
              }
            : { metadata: { resourceVersion: '20' }, items: [node('b', '10.244.2.0/24', '192.0.2.2', '19')] },
        ),
      );
      return;
    }
    const rv = u.searchParams.get('resourceVersion')!;
    watches.push(rv);
    assert.equal(u.searchParams.get('allowWatchBookmarks'), 'true');
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const line = (o: unknown): boolean => res.write(JSON.stringify(o) + '\n');
    if (rv === '10') {
      line({ type: 'MODIFIED', object: node('me', '10.244.0.0/24', '192.0.2.99', '11') }); // own: ignored
      line({ type: 'MODIFIED', object: node('a', '10.244.1.0/24', '192.0.2.1', '12', { x: 'y' }) }); // unrelated
      line({ type: 'ADDED', object: node('b', '10.244.2.0/24', '192.0.2.2', '13') });
      line({
        type: 'ERROR',
        object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' },
      });
      res.end();
    } else if (rv === '20') {
      // Then a dropped connection (after the bookmark is on the wire): resume from 25.
      res.write(
        JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '25' } } }) + '\n',
        () => setTimeout(() => res.destroy(), 50),
      );
    } else {
      line({ type: 'DELETED', object: node('b', '10.244.2.0/24', '192.0.2.2', '26') });
    }
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  t.after(() => srv.close());
  const port = (srv.address() as AddressInfo).port;
  const warnings: string[] = [];
  const store = new KubeStore({
    client: new KubeClient({ server: `http://127.0.0.1:${port}`, source: 'test' }),
    prefix: P,
    env: { NODE_NAME: 'me' },
    warn: (m) => warnings.push(m),
  });
  assert.equal(await store.nodeName(), 'me');
  const listing = await store.listLeases();
  assert.deepEqual(
    listing.leases.map((l) => l.key),
    ['10.244.1.0-24'],
    'own node not a peer before acquire',
  );
  assert.equal(listing.cursor, '10');
  const got: LeaseWatchResult[] = [];
  const ac = new AbortController();
  for await (const r of store.watchLeases('10', ac.signal)) {
    got.push(r);
    if (got.length === 3) ac.abort();
  }
  assert.equal(got[0]!.events.length, 1);
  assert.equal(got[0]!.events[0]!.type, 'added');
  assert.equal(got[0]!.events[0]!.lease.key, '10.244.2.0-24');
  assert.deepEqual(
    got[1]!.snapshot?.map((l) => l.key),
    ['10.244.2.0-24'],
    '410 -> relist snapshot',
  );
  assert.equal(got[2]!.events[0]!.type, 'removed');
  assert.deepEqual(watches.slice(0, 3), ['10', '20', '25'], 'watch resumed from the bookmark after the drop');
  assert.ok(
    warnings.some((w) => /resuming from resourceVersion 25/.test(w)),
    warnings.join('\n'),
  );
  await store.close();
});

/**
 * KubeLeaseManager and the node-name lookup against a scripted API server (a fake; the namespace
 * test runs the real one): the exact PATCH flannel sends (path, content type, body), nothing sent
 * when the annotations are current, NetworkUnavailable, POD_NAME/POD_NAMESPACE -> spec.nodeName,
 * a missing Node polled then flannel's timeout message, a 403 named at once.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { KubeApiError, LeaseError } from '../../../src/errors';
import { KubeClient } from '../../../src/control/kube/client';
import { KubeStore } from '../../../src/control/kube/kube-store';
import { KubeLeaseManager } from '../../../src/control/kube/kube-lease-manager';
import { parseNetworkConfig } from '../../../src/control/net-config';
import { vxlanLeaseData } from '../../../src/control/lease';

interface Seen {
  method: string;
  url: string;
  type: string;
  body: string;
}

async function server(
  t: { after(fn: () => void): void },
  handle: (s: Seen, res: http.ServerResponse) => void,
): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const s = { method: req.method!, url: req.url!, type: req.headers['content-type'] ?? '', body };
      seen.push(s);
      handle(s, res);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  t.after(() => srv.close());
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, seen };
}

const CONFIG = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
const ATTRS = {
  publicIp: '192.0.2.1',
  publicIpv6: null,
  backendType: 'vxlan',
  backendData: vxlanLeaseData(1, '0a:00:00:00:00:01'),
  backendV6Data: null,
};

function mgr(url: string, env: Record<string, string>, o: { pollMs?: number; timeoutMs?: number } = {}) {
  const store = new KubeStore({
    client: new KubeClient({ server: url, source: 'test' }),
    prefix: 'flannel.alpha.coreos.com',
    env,
  });
  return {
    store,
    m: new KubeLeaseManager({ store, config: CONFIG, attrs: ATTRS, setNodeNetworkUnavailable: true, ...o }),
  };
}

test('pod -> node name, podCIDR lease, one status PATCH with only the changed keys, NetworkUnavailable', async (t) => {
  let annotations: Record<string, string> = { 'flannel.alpha.coreos.com/kube-subnet-manager': 'true' };
  const { url, seen } = await server(t, (s, res) => {
    if (s.url === '/api/v1/namespaces/kube-flannel/pods/flannel-x') {
      res.end(JSON.stringify({ spec: { nodeName: 'n7' } }));
    } else if (s.url === '/api/v1/nodes') {
      res.end(
        JSON.stringify({
          metadata: { resourceVersion: '3' },
          items: [{ metadata: { name: 'n7', annotations } }],
        }),
      );
    } else if (s.url === '/api/v1/nodes/n7' && s.method === 'GET') {
      res.end(
        JSON.stringify({
          metadata: { name: 'n7', annotations },
          spec: { podCIDR: '10.244.7.0/24', podCIDRs: ['10.244.7.0/24'] },
        }),
      );
    } else if (s.url === '/api/v1/nodes/n7/status' && s.method === 'PATCH') {
      const p = JSON.parse(s.body) as { metadata?: { annotations?: Record<string, string> } };
      annotations = { ...annotations, ...(p.metadata?.annotations ?? {}) };
      res.end(JSON.stringify({ metadata: { name: 'n7', annotations } }));
    } else {
      res.statusCode = 404;
      res.end('{"kind":"Status","reason":"NotFound","message":"no"}');
    }
  });
  const { store, m } = mgr(url, { POD_NAME: 'flannel-x', POD_NAMESPACE: 'kube-flannel' });
  const l = await m.acquire();
  assert.equal(l.key, '10.244.7.0-24');
  const patches = seen.filter((s) => s.method === 'PATCH');
  assert.equal(patches.length, 1);
  assert.equal(patches[0]!.url, '/api/v1/nodes/n7/status');
  assert.equal(patches[0]!.type, 'application/strategic-merge-patch+json');
  assert.equal(
    patches[0]!.body,
    '{"metadata":{"annotations":{"flannel.alpha.coreos.com/backend-data":"{\\"VNI\\":1,\\"VtepMAC\\":\\"0a:00:00:00:00:01\\"}","flannel.alpha.coreos.com/backend-type":"vxlan","flannel.alpha.coreos.com/public-ip":"192.0.2.1"}}}',
  );
  // A restart finds its annotations current: no patch.
  const again = mgr(url, { NODE_NAME: 'n7' });
  await again.m.acquire();
  assert.equal(seen.filter((s) => s.method === 'PATCH').length, 1);
  m.startRenewal();
  await m.completed();
  const status = seen.filter((s) => s.method === 'PATCH').at(-1)!;
  assert.match(
    status.body,
    /^\{"status":\{"conditions":\[\{"type":"NetworkUnavailable","status":"False",.*"reason":"FlannelIsUp","message":"Flannel is running on this node"\}\]\}\}$/,
  );
  // The listing carries our lease (the daemon checks it is still there after a relist).
  assert.deepEqual(
    (await store.listLeases()).leases.map((x) => x.key),
    ['10.244.7.0-24'],
  );
});

test("a missing Node is polled, then flannel's timeout; a 403 is named at once", async (t) => {
  let forbid = false;
  const { url, seen } = await server(t, (_s, res) => {
    res.statusCode = forbid ? 403 : 404;
    res.end(
      JSON.stringify({
        kind: 'Status',
        reason: forbid ? 'Forbidden' : 'NotFound',
        message: forbid ? 'nodes "n9" is forbidden' : 'nodes "n9" not found',
      }),
    );
  });
  const { m } = mgr(url, { NODE_NAME: 'n9' }, { pollMs: 50, timeoutMs: 300 });
  await assert.rejects(
    m.acquire(),
    (e: unknown) =>
      e instanceof LeaseError && /timeout contacting kube-api, failed to patch node "n9"/.test(e.message),
  );
  assert.ok(seen.length >= 3, `polled ${seen.length} times`);
  forbid = true;
  const n = seen.length;
  await assert.rejects(
    mgr(url, { NODE_NAME: 'n9' }, { pollMs: 50, timeoutMs: 300 }).m.acquire(),
    (e: unknown) =>
      e instanceof KubeApiError &&
      e.code === 'WEFT_ERR_KUBE_FORBIDDEN' &&
      /GET \/api\/v1\/nodes\/n9: 403 Forbidden/.test(e.message),
  );
  assert.equal(seen.length, n + 1, 'a 403 is not retried');
});

test("node name: flannel's messages", async (t) => {
  const { url } = await server(t, (s, res) => {
    res.end(JSON.stringify({ spec: {} }));
    void s;
  });
  await assert.rejects(
    mgr(url, { POD_NAME: 'p' }).store.nodeName(),
    /env variables POD_NAME and POD_NAMESPACE must be set/,
  );
  await assert.rejects(
    mgr(url, { POD_NAME: 'p', POD_NAMESPACE: 'ns' }).store.nodeName(),
    /node name not present in pod spec 'ns\/p'/,
  );
});

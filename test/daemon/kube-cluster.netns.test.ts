/**
 * weft nodes in kube mode against a real kube-apiserver (built by `scripts/kube.sh build`) with
 * nodeipam, in the testbed's switch namespace, each node with a token of flannel's own
 * ClusterRole (not admin):
 * - startup errors: no NODE_NAME/POD_*, podCIDR not assigned (flannel's message, exit 1),
 *   podCIDR outside Network, a ClusterRole without `nodes/status patch` (a named 403);
 * - three weft nodes: flannel's annotations byte for byte, NetworkUnavailable=False, subnet.env
 *   from the podCIDR, full-mesh ping;
 * - a kernel flannel.1 node whose Node carries annotations in flannel's format: ping and TCP
 *   (SHA-256) both ways; its public IP changed -> the route follows;
 * - a Node deleted -> its route removed;
 * - the API server stopped for 30 s -> forwarding continues, the watch resumes afterwards;
 * - a restart on an empty state directory, as a pod (POD_NAME/POD_NAMESPACE -> spec.nodeName),
 *   keeps the VTEP MAC (from the node's annotation);
 * - TCP with SHA-256 weft <-> weft and weft <-> kernel node, both ways, at default offloads.
 * Needs root and the built binaries (the test fails naming `scripts/kube.sh build` without them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_HEALTHZ_PORT, Testbed } from '../../src/testing/testbed';
import { sleep } from '../../src/testing/shell';
import { KubeCluster, kubeBinDir } from '../../src/testing/kube-cluster';
import { randomLocalMac } from '../../src/daemon/vtep-state';
import { NodeInfo, assertMesh, needRoot, nodeInfo, ping, waitRoutes, waitUntil } from './cluster-helpers';
import {
  PREFIX,
  annotate,
  createNode,
  debugRoutes,
  expectExit,
  flannelAnnotations,
  getNode,
  netConfFile,
  startKube,
  startKubeWeft,
  tcpSha256,
  waitNoRoute,
  waitPodCidr,
} from './kube-helpers';

test(
  'weft run --kube-subnet-mgr: a real API server, flannel RBAC, mixed with kernel VXLAN',
  { timeout: 420_000 },
  async (t) => {
    needRoot();
    kubeBinDir(); // fails naming `scripts/kube.sh build` when the binaries are missing
    const tb = await Testbed.create({ nodes: 4, tag: 'tk' });
    let kc: KubeCluster | null = null;
    t.after(async () => {
      await kc?.stop();
      await tb.cleanup();
    });
    const [nd1, nd2, nd3, nd4] = tb.nodes as [
      Testbed['nodes'][0],
      Testbed['nodes'][0],
      Testbed['nodes'][0],
      Testbed['nodes'][0],
    ];
    kc = await startKube(tb, false);
    const conf = netConfFile(tb);
    const flannel = kc.flannelKubeconfig;

    // --- startup errors ------------------------------------------------------------------------
    {
      const r = await expectExit(
        startKubeWeft(tb, nd4, { nodeName: null, kubeconfig: flannel, netConf: conf }),
      );
      assert.equal(r.code, 1, r.log);
      assert.match(r.log, /env variables POD_NAME and POD_NAMESPACE must be set/);
    }
    await createNode(kc, 'n1'); // no podCIDR: nodeipam is not running yet
    {
      const r = await expectExit(
        startKubeWeft(tb, nd1, { nodeName: 'n1', kubeconfig: flannel, netConf: conf }),
      );
      assert.equal(r.code, 1, r.log);
      assert.match(r.log, /node \\"n1\\" pod cidr not assigned/);
      assert.match(r.log, /kubectl patch node n1 -p/);
      assert.match(r.log, /--allocate-node-cidrs/);
      assert.ok(!fs.existsSync(nd1.subnetFile), 'no subnet.env written');
    }
    await createNode(kc, 'outside', '10.99.0.0/24');
    {
      const r = await expectExit(
        startKubeWeft(tb, nd4, { nodeName: 'outside', kubeconfig: flannel, netConf: conf }),
      );
      assert.equal(r.code, 1, r.log);
      assert.match(r.log, /WEFT_ERR_CONFIG/);
      assert.match(
        r.log,
        /node \\"outside\\" spec.podCIDR: must lie inside the net-conf.json Network 10.244.0.0\/16/,
      );
      assert.match(r.log, /doesn't contain \\"10.99.0.0\/24\\" PodCIDR of the \\"outside\\" node/);
      const ann = (await getNode(kc, 'outside')).metadata.annotations ?? {};
      assert.equal(ann[`${PREFIX}/kube-subnet-manager`], undefined, 'a misassigned node is not advertised');
      // nodeipam refuses to start while a node holds a podCIDR outside --cluster-cidr.
      await kc.admin.request('DELETE', '/api/v1/nodes/outside');
    }
    kc.startControllerManager();
    const cidr1 = await waitPodCidr(kc, 'n1');
    {
      // flannel's ClusterRole minus `nodes/status patch`: the 403 is named, not retried forever.
      await kc.applyRole('weak', 'kube-flannel', 'weak', [
        { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
      ]);
      const weak = kc.writeKubeconfig(
        path.join(tb.dir, 'weak.kubeconfig'),
        await kc.tokenFor('kube-flannel', 'weak'),
      );
      const r = await expectExit(startKubeWeft(tb, nd1, { nodeName: 'n1', kubeconfig: weak, netConf: conf }));
      assert.equal(r.code, 1, r.log);
      assert.match(r.log, /WEFT_ERR_KUBE_FORBIDDEN/);
      assert.match(r.log, /refused PATCH \/api\/v1\/nodes\/n1\/status: 403 Forbidden/);
    }

    // --- three weft nodes with flannel's ClusterRole --------------------------------------------
    await createNode(kc, 'n2');
    await createNode(kc, 'n3');
    const cidrs = [cidr1, await waitPodCidr(kc, 'n2'), await waitPodCidr(kc, 'n3')];
    const names = ['n1', 'n2', 'n3'];
    const weft = [nd1, nd2, nd3];
    weft.forEach((nd, i) =>
      startKubeWeft(tb, nd, { nodeName: names[i]!, kubeconfig: flannel, netConf: conf }),
    );
    const nodes: NodeInfo[] = [];
    for (const nd of weft) nodes.push(nodeInfo(tb, nd, await tb.waitReady(nd, 60_000)));
    for (let i = 0; i < 3; i++) {
      const n = nodes[i]!;
      assert.equal(n.subnet, cidrs[i], `node${i + 1}'s lease is its podCIDR`);
      assert.equal(
        n.env,
        `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${n.podIp}/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`,
      );
      const kn = await getNode(kc, names[i]!);
      const ann = kn.metadata.annotations ?? {};
      for (const [k, v] of Object.entries(flannelAnnotations(n.nd.ip, n.vtepMac))) {
        assert.equal(ann[k], v, `${names[i]} annotation ${k}`);
      }
    }
    // NetworkUnavailable=False (FlannelIsUp) is set after subnet.env.
    for (const name of names) {
      let cond: { status: string; reason?: string; message?: string } | undefined;
      const end = Date.now() + 10_000;
      while (!cond && Date.now() < end) {
        cond = (await getNode(kc, name)).status?.conditions?.find((c) => c.type === 'NetworkUnavailable');
        if (!cond) await sleep(200);
      }
      assert.ok(cond, `${name} has NetworkUnavailable`);
      assert.equal(cond.status, 'False');
      assert.equal(cond.reason, 'FlannelIsUp');
      assert.equal(cond.message, 'Flannel is running on this node');
    }
    for (const n of nodes)
      await waitRoutes(
        tb,
        n.nd,
        nodes.filter((o) => o !== n).map((o) => o.subnet),
        20_000,
      );
    assertMesh(tb, nodes);

    // --- mixed cluster: a kernel flannel.1 node (Node k4, annotations in flannel's format) ------
    await createNode(kc, 'k4');
    const k4cidr = await waitPodCidr(kc, 'k4');
    const k4gw = k4cidr.split('/')[0]!;
    const k4pod = k4gw.replace(/\.0$/, '.1');
    const kx = (...a: string[]): string => tb.execIn(nd4.ns, 'ip', a);
    // flannel's vxlan backend on the kernel node: flannel.1 with `local <public IP>`, and per
    // weft node a permanent neighbour, FDB entry and onlink route (anchors.md A).
    const kernelUp = (local: string, mac?: string): string => {
      kx('link', 'add', 'flannel.1', ...(mac ? ['address', mac] : []), 'type', 'vxlan', 'id', '1',
        'dstport', '8472', 'local', local, 'dev', nd4.dev, 'nolearning'); // prettier-ignore
      kx('link', 'set', 'flannel.1', 'mtu', '1450', 'up');
      kx('addr', 'add', `${k4gw}/32`, 'dev', 'flannel.1');
      for (const n of nodes) {
        const gw = n.subnet.split('/')[0]!;
        kx('neigh', 'replace', gw, 'lladdr', n.vtepMac, 'dev', 'flannel.1', 'nud', 'permanent');
        tb.execIn(nd4.ns, 'bridge', [
          'fdb',
          'replace',
          n.vtepMac,
          'dev',
          'flannel.1',
          'dst',
          n.nd.ip,
          'self',
          'permanent',
        ]);
        kx('route', 'replace', n.subnet, 'via', gw, 'dev', 'flannel.1', 'onlink');
      }
      return tb.execIn(nd4.ns, 'cat', ['/sys/class/net/flannel.1/address']).trim();
    };
    kx('addr', 'add', `${k4pod}/32`, 'dev', 'lo');
    const kmac = kernelUp(nd4.ip);
    await annotate(kc, 'k4', flannelAnnotations(nd4.ip, kmac));
    for (const n of nodes) await waitRoutes(tb, n.nd, [k4cidr], 20_000);
    for (const n of nodes) {
      const there = ping(tb, n.nd.ns, n.podIp, k4pod, 3);
      assert.equal(there.received, 3, `weft node${n.nd.index} -> kernel node: ${there.out}`);
      const back = ping(tb, nd4.ns, k4pod, n.podIp, 3);
      assert.equal(back.received, 3, `kernel node -> weft node${n.nd.index}: ${back.out}`);
    }
    const n1 = nodes[0]!;

    // The kernel node's public IP changes (annotation rewritten): every weft node follows.
    // The kernel node's address changes (flanneld restarts there: flannel.1 comes back with the
    // new `local` and the same MAC), and its annotation is rewritten.
    kx('addr', 'add', '192.0.2.44/24', 'dev', nd4.dev);
    kx('link', 'del', 'flannel.1');
    kernelUp('192.0.2.44', kmac);
    await annotate(kc, 'k4', { [`${PREFIX}/public-ip`]: '192.0.2.44' });
    for (const n of nodes) {
      await waitUntil(
        () => debugRoutes(tb, n.nd).peers.some((p) => p.subnet === k4cidr && p.publicIp === '192.0.2.44'),
        15_000,
        `node${n.nd.index} routes ${k4cidr} via 192.0.2.44`,
      );
    }
    const moved = ping(tb, n1.nd.ns, n1.podIp, k4pod, 3);
    assert.equal(moved.received, 3, `weft -> kernel node at its new public IP: ${moved.out}`);
    // A change that is not backend data, type or public IP is not an update (flannel's filter).
    const before = nd1.weft!.events.filter((e) => /^Subnet added/.test(e.msg)).length;
    await annotate(kc, 'k4', { 'example.com/unrelated': 'x' });
    await sleep(1500);
    assert.equal(
      nd1.weft!.events.filter((e) => /^Subnet added/.test(e.msg)).length,
      before,
      'no update for an unrelated annotation',
    );

    // --- a Node deleted -> its route removed -----------------------------------------------------
    await createNode(kc, 'gone');
    const goneCidr = await waitPodCidr(kc, 'gone');
    await annotate(kc, 'gone', flannelAnnotations('192.0.2.50', randomLocalMac()));
    for (const n of nodes) await waitRoutes(tb, n.nd, [goneCidr]);
    await kc.admin.request('DELETE', '/api/v1/nodes/gone');
    for (const n of nodes) await waitNoRoute(tb, n.nd, goneCidr);

    // --- API server stopped for 30 s: forwarding continues, the watch resumes ------------------
    const outageStart = Date.now();
    await kc.stopApiServer();
    const flow = tb.spawnIn(n1.nd.ns, 'ping during outage', 'ping', [
      '-n',
      '-c',
      '60',
      '-i',
      '0.2',
      '-W',
      '1',
      '-I',
      n1.podIp,
      nodes[1]!.podIp,
    ]);
    const kflow = ping(tb, nd4.ns, k4pod, nodes[2]!.podIp, 3);
    assert.equal(kflow.received, 3, `kernel -> weft during the outage: ${kflow.out}`);
    // flanneld's /healthz stays up: the lease is held, there is nothing to renew.
    assert.equal(tb.httpGet(n1.nd.ns, `http://127.0.0.1:${DEFAULT_HEALTHZ_PORT}/healthz`).status, 200);
    await flow.exited;
    assert.match(flow.log, /60 packets transmitted, 60 received, 0% packet loss/, flow.log);
    for (const n of nodes)
      assert.ok(n.nd.weft!.running, `node${n.nd.index} survived the outage:\n${n.nd.weft!.log}`);
    await sleep(Math.max(0, 30_000 - (Date.now() - outageStart)));
    await kc.startApiServer();
    await createNode(kc, 'late');
    const lateCidr = await waitPodCidr(kc, 'late');
    await annotate(kc, 'late', flannelAnnotations('192.0.2.51', randomLocalMac()));
    for (const n of nodes) await waitRoutes(tb, n.nd, [lateCidr], 30_000);
    assertMesh(tb, nodes);

    // --- restart on an empty state directory keeps the MAC (the node's stored backend-data) ----
    await nd2.weft!.stop();
    for (const f of fs.readdirSync(nd2.dir)) if (f.startsWith('vtep-')) fs.rmSync(path.join(nd2.dir, f));
    // This time as a DaemonSet pod would run: POD_NAME/POD_NAMESPACE, the node from the pod's spec.
    await kc.admin.post('/api/v1/namespaces/kube-flannel/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'kube-flannel-ds-n2', namespace: 'kube-flannel' },
      spec: {
        nodeName: 'n2',
        serviceAccountName: 'flannel',
        automountServiceAccountToken: false,
        containers: [{ name: 'kube-flannel', image: 'weft' }],
      },
    });
    startKubeWeft(tb, nd2, {
      nodeName: null,
      env: ['POD_NAME=kube-flannel-ds-n2', 'POD_NAMESPACE=kube-flannel'],
      kubeconfig: flannel,
      netConf: conf,
    });
    const again = await tb.waitReady(nd2, 60_000);
    assert.equal(again.vtepMac, nodes[1]!.vtepMac, 'same VTEP MAC after a restart');
    assert.match(nd2.weft!.log, /annotation flannel.alpha.coreos.com\/backend-data/);
    assertMesh(tb, nodes);

    // --- TCP with SHA-256: weft <-> weft, then weft node <-> kernel node, at default offloads --
    const ww = await tcpSha256(tb, nodes[2]!.nd.ns, nodes[2]!.podIp, n1.nd.ns, n1.podIp, 5200);
    assert.equal(ww.received, ww.sent, 'weft -> weft TCP data intact');
    const up = await tcpSha256(tb, nd4.ns, k4pod, n1.nd.ns, n1.podIp, 5201);
    assert.equal(up.received, up.sent, 'weft -> kernel TCP data intact');
    const down = await tcpSha256(tb, n1.nd.ns, n1.podIp, nd4.ns, k4pod, 5202);
    assert.equal(down.received, down.sent, 'kernel -> weft TCP data intact');
  },
);

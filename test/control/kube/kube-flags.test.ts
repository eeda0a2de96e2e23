/** flanneld's Kubernetes flags: defaults, FLANNELD_* variables, the kube-mode net-config default. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/errors';
import { parseFlags } from '../../../src/control/flags';

test('kube flags default as flanneld', () => {
  const f = parseFlags([], {});
  assert.equal(f.kubeSubnetMgr, false);
  assert.equal(f.kubeApiUrl, '');
  assert.equal(f.kubeconfigFile, '');
  assert.equal(f.kubeAnnotationPrefix, 'flannel.alpha.coreos.com');
  assert.equal(f.setNodeNetworkUnavailable, true);
  assert.equal(f.netConfigPath, '', 'outside kube mode the config comes from the store');
});

test('--kube-subnet-mgr defaults --net-config-path to /etc/kube-flannel/net-conf.json; an explicit one wins', () => {
  assert.equal(parseFlags(['--kube-subnet-mgr'], {}).netConfigPath, '/etc/kube-flannel/net-conf.json');
  assert.equal(parseFlags(['--kube-subnet-mgr', '--net-config-path=/x.json'], {}).netConfigPath, '/x.json');
  assert.equal(
    parseFlags([], { FLANNELD_KUBE_SUBNET_MGR: 'true', FLANNELD_NET_CONFIG_PATH: '/y.json' }).netConfigPath,
    '/y.json',
  );
});

test('every kube flag reads FLANNELD_*; the command line wins', () => {
  const f = parseFlags(['--kube-api-url=https://cli:6443'], {
    FLANNELD_KUBE_SUBNET_MGR: '1',
    FLANNELD_KUBE_API_URL: 'https://env:6443',
    FLANNELD_KUBECONFIG_FILE: '/etc/kubeconfig',
    FLANNELD_KUBE_ANNOTATION_PREFIX: 'example.com',
    FLANNELD_SET_NODE_NETWORK_UNAVAILABLE: 'false',
  });
  assert.equal(f.kubeSubnetMgr, true);
  assert.equal(f.kubeApiUrl, 'https://cli:6443');
  assert.equal(f.kubeconfigFile, '/etc/kubeconfig');
  assert.equal(f.kubeAnnotationPrefix, 'example.com');
  assert.equal(f.setNodeNetworkUnavailable, false);
});

test('an annotation prefix with two slashes is refused, naming the flag', () => {
  assert.throws(
    () => parseFlags(['--kube-annotation-prefix=a/b/c'], {}),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.field === '--kube-annotation-prefix' &&
      /at most a single slash/.test(e.rule),
  );
});

/** client configuration as client-go's BuildConfigFromFlags builds it. */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../../src/errors';
import { buildClientConfig, loadKubeconfig } from '../../../src/control/kube/kubeconfig';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'weft-kubeconfig-'));
}

const KC = (
  user: string,
  cluster = 'server: https://192.0.2.254:6443\n    certificate-authority: ca.crt',
) => `apiVersion: v1
kind: Config
current-context: c1
contexts:
- name: c0
  context: {cluster: other, user: other}
- name: c1
  context:
    cluster: k1
    user: u1
clusters:
- name: k1
  cluster:
    ${cluster}
users:
- name: u1
  user:
    ${user}
`;

test('current-context picks cluster and user; relative paths are relative to the kubeconfig', (t) => {
  const d = tmp();
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  fs.writeFileSync(path.join(d, 'ca.crt'), 'CA');
  fs.writeFileSync(path.join(d, 'tok'), 'filetoken\n');
  fs.writeFileSync(path.join(d, 'kc'), KC('tokenFile: tok'));
  const c = loadKubeconfig(path.join(d, 'kc'));
  assert.equal(c.server, 'https://192.0.2.254:6443');
  assert.equal(c.ca?.toString(), 'CA');
  assert.equal(c.tokenFile, path.join(d, 'tok'), "client-go's key is tokenFile");
  assert.equal(c.token, undefined);
});

test('--kube-api-url overrides the kubeconfig server; data fields are base64', (t) => {
  const d = tmp();
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  const b = (s: string): string => Buffer.from(s).toString('base64');
  fs.writeFileSync(
    path.join(d, 'kc'),
    KC(
      `client-certificate-data: ${b('CERT')}\n    client-key-data: ${b('KEY')}`,
      `server: https://a:1\n    certificate-authority-data: ${b('CADATA')}`,
    ),
  );
  const c = buildClientConfig({ apiUrl: 'https://b:2', kubeconfigFile: path.join(d, 'kc') });
  assert.equal(c.server, 'https://b:2');
  assert.equal(c.ca?.toString(), 'CADATA');
  assert.equal(c.clientCert?.toString(), 'CERT');
  assert.equal(c.clientKey?.toString(), 'KEY');
});

test('only --kube-api-url: that server, no credentials', () => {
  const c = buildClientConfig({ apiUrl: 'https://10.0.0.1:6443/', kubeconfigFile: '' });
  assert.equal(c.server, 'https://10.0.0.1:6443');
  assert.equal(c.token, undefined);
  assert.equal(c.tokenFile, undefined);
});

test('both empty: in-cluster from KUBERNETES_SERVICE_* and the service-account directory', (t) => {
  const d = tmp();
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  fs.writeFileSync(path.join(d, 'token'), 'satoken');
  fs.writeFileSync(path.join(d, 'ca.crt'), 'SACA');
  const c = buildClientConfig({
    apiUrl: '',
    kubeconfigFile: '',
    env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
    serviceAccountDir: d,
  });
  assert.equal(c.server, 'https://10.96.0.1:443');
  assert.equal(c.tokenFile, path.join(d, 'token'));
  assert.equal(c.ca?.toString(), 'SACA');
  assert.throws(
    () => buildClientConfig({ apiUrl: '', kubeconfigFile: '', env: {}, serviceAccountDir: d }),
    (e: unknown) =>
      e instanceof ConfigError &&
      /KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined/.test(e.message),
  );
});

test('bad kubeconfigs name the field', (t) => {
  const d = tmp();
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  const f = path.join(d, 'kc');
  fs.writeFileSync(f, KC('token: x').replace('current-context: c1', 'current-context: nope'));
  assert.throws(
    () => loadKubeconfig(f),
    (e: unknown) => e instanceof ConfigError && /context "nope"/.test(e.message),
  );
  fs.writeFileSync(
    f,
    KC(
      'token: x',
      'server: https://a:1\n    insecure-skip-tls-verify: true\n    certificate-authority: ca.crt',
    ).replace('certificate-authority: ca.crt', `certificate-authority: ${f}`),
  );
  assert.throws(
    () => loadKubeconfig(f),
    (e: unknown) => e instanceof ConfigError && e.field === 'cluster.insecure-skip-tls-verify',
  );
  fs.writeFileSync(f, KC('token: x', 'certificate-authority: missing.crt\n    server: https://a:1'));
  assert.throws(
    () => loadKubeconfig(f),
    (e: unknown) => e instanceof ConfigError && e.field === 'cluster.certificate-authority',
  );
  fs.writeFileSync(f, KC('exec: {command: aws}'));
  assert.throws(
    () => loadKubeconfig(f),
    (e: unknown) => e instanceof ConfigError && e.field === 'user.exec',
  );
  assert.throws(
    () => loadKubeconfig(path.join(d, 'absent')),
    (e: unknown) => e instanceof ConfigError && e.field === '--kubeconfig-file',
  );
});

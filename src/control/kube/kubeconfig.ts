/**
 * kubeconfig: the API client configuration as client-go's `clientcmd.BuildConfigFromFlags(apiUrl,
 * kubeconfig)` builds it for flanneld:
 * - both empty: in-cluster (`KUBERNETES_SERVICE_HOST`/`_PORT`, the service-account token file and
 *   `ca.crt` under /var/run/secrets/kubernetes.io/serviceaccount);
 * - `--kubeconfig-file`: its current-context's cluster and user; `--kube-api-url` overrides the
 *   cluster's server;
 * - only `--kube-api-url`: that server, no credentials (anonymous), system CAs.
 * kubeconfig keys are client-go's: cluster `server`, `certificate-authority` (relative paths are
 * relative to the kubeconfig's directory), `certificate-authority-data`,
 * `insecure-skip-tls-verify`, `tls-server-name`; user `token`, `tokenFile`,
 * `client-certificate(-data)`, `client-key(-data)`, `username`/`password`.
 * Errors are ConfigErrors naming the flag or the kubeconfig field.
 */

import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ConfigError } from '../../errors';
import { KubeClientConfig } from './client';

/** SERVICE_ACCOUNT_DIR is where Kubernetes mounts a pod's service-account token and CA. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** KubeConfigSource is the input of buildClientConfig (flanneld's two flags and the environment). */
export interface KubeConfigSource {
  /** `--kube-api-url`. */
  readonly apiUrl: string;
  /** `--kubeconfig-file`. */
  readonly kubeconfigFile: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** For tests: where the in-cluster token and ca.crt are. */
  readonly serviceAccountDir?: string;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function named(list: unknown, name: string, what: string, file: string): Obj {
  if (Array.isArray(list)) {
    for (const e of list) {
      if (isObj(e) && e.name === name) {
        const inner = e[what];
        return isObj(inner) ? inner : {};
      }
    }
  }
  throw new ConfigError(
    `--kubeconfig-file ${what}s`,
    `must contain the ${what} "${name}" that the current context names`,
    file,
  );
}

function str(o: Obj, key: string, field: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new ConfigError(field, 'must be a string');
  return v;
}

function readFile(file: string, field: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new ConfigError(field, 'must name a readable file', `${file}: ${(e as Error).message}`);
  }
}

function b64(v: string, field: string): Buffer {
  const b = Buffer.from(v, 'base64');
  if (b.length === 0) throw new ConfigError(field, 'must be base64 PEM data');
  return b;
}

/** inClusterConfig is client-go's rest.InClusterConfig. */
export function inClusterConfig(
  env: Readonly<Record<string, string | undefined>>,
  dir = SERVICE_ACCOUNT_DIR,
): KubeClientConfig {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '';
  if (host === '' || port === '') {
    throw new ConfigError(
      '--kubeconfig-file',
      'must be set (or --kube-api-url) outside a pod',
      'unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined',
    );
  }
  const tokenFile = path.join(dir, 'token');
  readFile(tokenFile, 'in-cluster service-account token');
  let ca: Buffer | undefined;
  try {
    ca = fs.readFileSync(path.join(dir, 'ca.crt'));
  } catch {
    // client-go logs "Expected to load root CA config" and goes on with the system CAs.
    ca = undefined;
  }
  const h = host.includes(':') ? `[${host}]` : host;
  return { server: `https://${h}:${port}`, tokenFile, ca, source: 'in-cluster' };
}

/** loadKubeconfig reads a kubeconfig file's current context into a client configuration. */
export function loadKubeconfig(file: string, serverOverride = ''): KubeClientConfig {
  const text = readFile(file, '--kubeconfig-file').toString('utf8');
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw new ConfigError('--kubeconfig-file', 'must be YAML or JSON', `${file}: ${(e as Error).message}`);
  }
  if (!isObj(doc)) throw new ConfigError('--kubeconfig-file', 'must be a kubeconfig object', file);
  const ctxName = str(doc, 'current-context', 'current-context');
  if (!ctxName) {
    throw new ConfigError(
      '--kubeconfig-file current-context',
      'must name a context',
      `${file}: invalid configuration: no configuration has been provided`,
    );
  }
  const ctx = named(doc.contexts, ctxName, 'context', file);
  const cluster = named(doc.clusters, str(ctx, 'cluster', 'context.cluster') ?? '', 'cluster', file);
  const userName = str(ctx, 'user', 'context.user');
  const user = userName ? named(doc.users, userName, 'user', file) : {};
  for (const key of ['exec', 'auth-provider']) {
    // Credential plugins run programs; silently going anonymous instead would only show as 403s.
    if (user[key] !== undefined && user[key] !== null) {
      throw new ConfigError(
        `user.${key}`,
        'is not supported by weft: use token, tokenFile or a client certificate',
        `${file}, user "${userName}"`,
      );
    }
  }
  const dir = path.dirname(path.resolve(file));
  const rel = (p: string): string => (path.isAbsolute(p) ? p : path.join(dir, p));

  const server = serverOverride || str(cluster, 'server', 'cluster.server');
  if (!server) {
    throw new ConfigError(
      'cluster.server',
      'must be set (or pass --kube-api-url)',
      `${file}: no server found for cluster`,
    );
  }
  checkServer(server, serverOverride ? '--kube-api-url' : 'cluster.server');
  const insecure = cluster['insecure-skip-tls-verify'] === true;
  let ca: Buffer | undefined;
  const caData = str(cluster, 'certificate-authority-data', 'cluster.certificate-authority-data');
  const caFile = str(cluster, 'certificate-authority', 'cluster.certificate-authority');
  if (caData) ca = b64(caData, 'cluster.certificate-authority-data');
  else if (caFile) ca = readFile(rel(caFile), 'cluster.certificate-authority');
  if (insecure && ca) {
    throw new ConfigError(
      'cluster.insecure-skip-tls-verify',
      'must not be combined with a certificate authority',
      'specifying a root certificates file with the insecure flag is not allowed',
    );
  }
  const certData = str(user, 'client-certificate-data', 'user.client-certificate-data');
  const certFile = str(user, 'client-certificate', 'user.client-certificate');
  const keyData = str(user, 'client-key-data', 'user.client-key-data');
  const keyFile = str(user, 'client-key', 'user.client-key');
  const clientCert = certData
    ? b64(certData, 'user.client-certificate-data')
    : certFile
      ? readFile(rel(certFile), 'user.client-certificate')
      : undefined;
  const clientKey = keyData
    ? b64(keyData, 'user.client-key-data')
    : keyFile
      ? readFile(rel(keyFile), 'user.client-key')
      : undefined;
  if ((clientCert === undefined) !== (clientKey === undefined)) {
    throw new ConfigError('user.client-key', 'must be set together with user.client-certificate');
  }
  const tokenFile = str(user, 'tokenFile', 'user.tokenFile');
  return {
    server: server.replace(/\/+$/, ''),
    ca,
    insecureSkipTlsVerify: insecure,
    tlsServerName: str(cluster, 'tls-server-name', 'cluster.tls-server-name'),
    token: str(user, 'token', 'user.token'),
    tokenFile: tokenFile ? rel(tokenFile) : undefined,
    clientCert,
    clientKey,
    username: str(user, 'username', 'user.username'),
    password: str(user, 'password', 'user.password'),
    source: `kubeconfig ${file} (context ${ctxName})`,
  };
}

function checkServer(server: string, field: string): void {
  let u: URL;
  try {
    u = new URL(server);
  } catch {
    throw new ConfigError(field, 'must be a URL such as https://10.96.0.1:443', `got "${server}"`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new ConfigError(field, 'must be an http or https URL', `got "${server}"`);
  }
}

/** buildClientConfig is clientcmd.BuildConfigFromFlags (see the module comment). */
export function buildClientConfig(src: KubeConfigSource): KubeClientConfig {
  const env = src.env ?? process.env;
  if (src.apiUrl === '' && src.kubeconfigFile === '') return inClusterConfig(env, src.serviceAccountDir);
  if (src.kubeconfigFile !== '') return loadKubeconfig(src.kubeconfigFile, src.apiUrl);
  checkServer(src.apiUrl, '--kube-api-url');
  return { server: src.apiUrl.replace(/\/+$/, ''), source: `--kube-api-url ${src.apiUrl} (no credentials)` };
}

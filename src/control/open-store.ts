/**
 * open-store: from parsed flags to a LeaseStore and a validated NetworkConfig, the first two steps
 * of `weft run` (flannel `main.go`: newSubnetManager, then getConfig with retries).
 */

import fsp from 'node:fs/promises';
import { ConfigError } from '../errors';
import { EmbeddedStore } from './embedded-store';
import { EtcdStore } from './etcd-store';
import { WeftFlags } from './flags';
import { NetworkConfig, parseNetworkConfig } from './net-config';
import { LeaseStore } from './store';
import { KubeClient } from './kube/client';
import { buildClientConfig } from './kube/kubeconfig';
import { KubeStore } from './kube/kube-store';

/**
 * openStore builds the store the flags chose (`flags.store`: `--store`, else etcd when an
 * `--etcd-*` flag was given, else embedded; see store-choice.ts), with the `--etcd-*` /
 * `--store-dir` options; with `--kube-subnet-mgr` the Kubernetes API (`--kube-api-url`,
 * `--kubeconfig-file`, in-cluster).
 */
export function openStore(flags: WeftFlags, warn?: (msg: string) => void): LeaseStore {
  if (flags.kubeSubnetMgr) {
    if (flags.kubeApiUrl === '' && flags.kubeconfigFile === '') {
      // client-go's BuildConfigFromFlags says the same.
      warn?.(
        'Neither --kubeconfig nor --master was specified.  Using the inClusterConfig.  This might not work.',
      );
    }
    const cfg = buildClientConfig({ apiUrl: flags.kubeApiUrl, kubeconfigFile: flags.kubeconfigFile });
    return new KubeStore({ client: new KubeClient(cfg), prefix: flags.kubeAnnotationPrefix, warn });
  }
  if (flags.store === 'etcd') {
    return new EtcdStore({
      endpoints: flags.etcdEndpoints,
      prefix: flags.etcdPrefix,
      keyFile: flags.etcdKeyfile || undefined,
      certFile: flags.etcdCertfile || undefined,
      caFile: flags.etcdCafile || undefined,
      username: flags.etcdUsername || undefined,
      password: flags.etcdPassword || undefined,
      warn,
    });
  }
  return new EmbeddedStore({ dir: flags.storeDir, prefix: flags.etcdPrefix, warn });
}

/** LoadedConfig is a validated config plus the text it came from. */
export interface LoadedConfig {
  readonly config: NetworkConfig;
  readonly text: string;
  readonly source: string;
}

/**
 * loadNetworkConfig reads `--net-config-path` when set, else `<prefix>/config` from the store,
 * and validates it. Throws ConfigError (missing or invalid) or StoreError (store unreachable).
 * With `seedStore`, a file config is also written to an empty store so other nodes and tools see it.
 */
export async function loadNetworkConfig(
  store: LeaseStore,
  flags: Pick<WeftFlags, 'netConfigPath' | 'etcdPrefix'> & Partial<Pick<WeftFlags, 'storeFrom'>>,
  opts: { seedStore?: boolean } = {},
): Promise<LoadedConfig> {
  if (flags.netConfigPath) {
    let text: string;
    try {
      text = await fsp.readFile(flags.netConfigPath, 'utf8');
    } catch (e) {
      throw new ConfigError(
        '--net-config-path',
        'must name a readable file',
        `${flags.netConfigPath}: ${(e as Error).message}`,
      );
    }
    const config = parseNetworkConfig(text);
    if (opts.seedStore && (await store.getConfig()) === null) await store.setConfig(text);
    return { config, text, source: flags.netConfigPath };
  }
  const text = await store.getConfig();
  const where = `${flags.etcdPrefix}/config`;
  if (text === null) {
    throw new ConfigError(
      'config',
      `must exist at ${where} in the ${store.kind} store (or pass --net-config-path)`,
      store.kind === 'etcd'
        ? 'flannel config not found in etcd store. Did you create your config using etcdv3 API?'
        : flags.storeFrom === 'default'
          ? 'no --etcd-* flag, --store or --store-dir was given, so weft looked in its embedded store; flanneld would read etcd: give --etcd-endpoints (or --store etcd)'
          : undefined,
    );
  }
  return { config: parseNetworkConfig(text), text, source: `${store.kind}:${where}` };
}

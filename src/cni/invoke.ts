/**
 * invoke: runs another CNI plugin as containernetworking/cni `pkg/invoke` does — found by name in
 * CNI_PATH, the config on stdin, the caller's environment with CNI_COMMAND set, its stderr passed
 * through — and turns a failure into the CniError the plugin printed (its code, msg and details).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CniError } from '../errors';
import { CNI_ERR } from './skel';

/** findInPath returns the first executable `plugin` in `dirs`, or throws libcni's message. */
export function findInPath(plugin: string, dirs: readonly string[]): string {
  if (plugin === '') throw new CniError(CNI_ERR.internal, 'no plugin name provided');
  if (plugin.includes('/'))
    throw new CniError(CNI_ERR.internal, `invalid plugin name: ${plugin} (it must not contain "/")`);
  if (dirs.length === 0) throw new CniError(CNI_ERR.internal, 'no paths provided');
  for (const d of dirs) {
    const p = path.join(d, plugin);
    try {
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* next directory */
    }
  }
  throw new CniError(CNI_ERR.internal, `failed to find plugin "${plugin}" in path [${dirs.join(' ')}]`);
}

/** InvokeOptions tune how a plugin runs. */
export interface InvokeOptions {
  /** Environment (default process.env); CNI_COMMAND is set on top. */
  readonly env?: NodeJS.ProcessEnv;
  /** Argv before the plugin path, e.g. `['ip', 'netns', 'exec', 'node1']` to run it in a node namespace. */
  readonly prefix?: readonly string[];
  /** Where the plugin's stderr goes (default: inherited). */
  readonly stderr?: 'inherit' | 'pipe';
}

/** InvokeResult is a successful run: the plugin's stdout, and its stderr when piped. */
export interface InvokeResult {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * execPlugin runs `pluginPath` with `command` and `conf` on stdin; on a non-zero exit it throws the
 * CniError the plugin printed, or one naming the exit status when its stdout is not an error.
 */
export function execPlugin(
  pluginPath: string,
  command: string,
  conf: string,
  o: InvokeOptions = {},
): InvokeResult {
  const argv = [...(o.prefix ?? []), pluginPath];
  const r = spawnSync(argv[0]!, argv.slice(1), {
    input: conf,
    env: { ...(o.env ?? process.env), CNI_COMMAND: command },
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', o.stderr ?? 'inherit'],
    maxBuffer: 16 << 20,
  });
  if (r.error) throw new CniError(CNI_ERR.internal, `failed to run ${pluginPath}: ${r.error.message}`);
  const stdout = r.stdout ?? '';
  const stderr = r.stderr ?? '';
  if (r.status === 0) return { stdout, stderr };
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    parsed = null;
  }
  const p = parsed as { code?: unknown; msg?: unknown; details?: unknown } | null;
  if (p && typeof p.code === 'number' && typeof p.msg === 'string')
    throw new CniError(p.code, p.msg, typeof p.details === 'string' ? p.details : '');
  const status = r.status === null ? `signal ${r.signal}` : `exit status ${r.status}`;
  const text = (stdout.trim() || stderr.trim()).slice(0, 2000);
  throw new CniError(
    CNI_ERR.internal,
    text ? `netplugin failed: ${JSON.stringify(text)}` : `netplugin failed with no error message: ${status}`,
  );
}

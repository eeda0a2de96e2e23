/**
 * runtime: a minimal CNI runtime — libcni's conflist semantics (containernetworking/cni
 * `libcni/api.go`) without a result cache on disk — for `weft demo --kube` and the tests, since
 * Debian ships no cnitool. For each plugin of the list it builds the config as libcni's
 * buildOneConfig does (the plugin's map + the list's `name` and `cniVersion`, `prevResult`, and
 * `runtimeConfig` holding only the capability args the plugin declares) and runs it (invoke.ts):
 *   ADD    in list order, each plugin's result is the next one's prevResult; the last is returned
 *   DEL    in reverse order; prevResult is the ADD result for lists at 0.4.0 or later
 *   CHECK  in list order with the ADD result as prevResult; refused below 0.4.0 as libcni does
 */
import { CniError } from '../errors';
import { execPlugin, findInPath } from './invoke';
import { CNI_ERR, compareVersions } from './skel';

type JsonMap = Record<string, unknown>;

/** Conflist is a parsed network configuration list. */
export interface Conflist {
  readonly name: string;
  readonly cniVersion: string;
  readonly plugins: readonly JsonMap[];
}

/** Attachment is one container's interface on the network. */
export interface Attachment {
  readonly containerId: string;
  /** Path of the container's network namespace, e.g. /var/run/netns/pod1. */
  readonly netns: string;
  readonly ifName: string;
  /** CNI_ARGS (`K=V;K2=V2`). */
  readonly args?: string;
  /** Capability arguments, e.g. `{ portMappings: [...] }`. */
  readonly capabilityArgs?: Readonly<JsonMap>;
}

/** RuntimeOptions say where plugins are and how to run them. */
export interface RuntimeOptions {
  /** CNI bin directories (CNI_PATH), searched in order. */
  readonly binDirs: readonly string[];
  /** Argv before each plugin, e.g. `['ip', 'netns', 'exec', 'node1']`. */
  readonly prefix?: readonly string[];
  /** Base environment (default process.env without CNI_*). */
  readonly env?: NodeJS.ProcessEnv;
  /** Collect plugins' stderr instead of inheriting it (see `stderrLog`). */
  readonly quiet?: boolean;
}

/** parseConflist validates a conflist's shape (name, cniVersion, non-empty plugins with a type each). */
export function parseConflist(v: unknown): Conflist {
  const c = (typeof v === 'string' ? JSON.parse(v) : v) as Partial<Conflist> | null;
  if (!c || typeof c !== 'object')
    throw new CniError(CNI_ERR.invalidNetworkConfig, 'conflist: not an object');
  if (typeof c.name !== 'string' || c.name === '')
    throw new CniError(CNI_ERR.invalidNetworkConfig, 'conflist: "name" must be a non-empty string');
  if (!Array.isArray(c.plugins) || c.plugins.length === 0)
    throw new CniError(CNI_ERR.invalidNetworkConfig, 'conflist: "plugins" must be a non-empty list');
  for (const p of c.plugins)
    if (!p || typeof p.type !== 'string' || p.type === '')
      throw new CniError(CNI_ERR.invalidNetworkConfig, 'conflist: every plugin needs a "type"');
  return {
    name: c.name,
    cniVersion: typeof c.cniVersion === 'string' ? c.cniVersion : '',
    plugins: c.plugins,
  };
}

/** CniRuntime runs a conflist's plugins for attachments. */
export class CniRuntime {
  readonly list: Conflist;
  /** Everything the plugins wrote on stderr (with `quiet`). */
  stderrLog = '';

  constructor(
    conflist: unknown,
    private readonly o: RuntimeOptions,
  ) {
    this.list = parseConflist(conflist);
  }

  private env(a: Attachment): NodeJS.ProcessEnv {
    const base = { ...(this.o.env ?? process.env) };
    for (const k of Object.keys(base)) if (k.startsWith('CNI_')) delete base[k];
    return {
      ...base,
      CNI_CONTAINERID: a.containerId,
      CNI_NETNS: a.netns,
      CNI_IFNAME: a.ifName,
      CNI_ARGS: a.args ?? '',
      CNI_PATH: this.o.binDirs.join(':'),
    };
  }

  /** pluginConfig is libcni's buildOneConfig for plugin `i`. */
  pluginConfig(i: number, a: Attachment, prevResult: unknown): string {
    const p = this.list.plugins[i]!;
    const conf: JsonMap = { ...p, name: this.list.name, cniVersion: this.list.cniVersion };
    if (prevResult !== undefined && prevResult !== null) conf.prevResult = prevResult;
    const caps = (p.capabilities ?? {}) as JsonMap;
    const rt: JsonMap = {};
    for (const [k, v] of Object.entries(a.capabilityArgs ?? {})) if (caps[k] === true) rt[k] = v;
    if (Object.keys(rt).length > 0) conf.runtimeConfig = rt;
    return JSON.stringify(conf);
  }

  private run(i: number, cmd: string, a: Attachment, prevResult: unknown): string {
    const type = this.list.plugins[i]!.type as string;
    const r = execPlugin(findInPath(type, this.o.binDirs), cmd, this.pluginConfig(i, a, prevResult), {
      env: this.env(a),
      prefix: this.o.prefix,
      stderr: this.o.quiet ? 'pipe' : 'inherit',
    });
    this.stderrLog += r.stderr;
    return r.stdout;
  }

  /** add runs ADD through the list and returns the final result. */
  add(a: Attachment): JsonMap {
    let prev: unknown = undefined;
    for (let i = 0; i < this.list.plugins.length; i++) {
      const out = this.run(i, 'ADD', a, prev);
      try {
        prev = JSON.parse(out);
      } catch {
        throw new CniError(
          CNI_ERR.decodingFailure,
          `plugin ${String(this.list.plugins[i]!.type)} printed no JSON result: ${JSON.stringify(out.slice(0, 200))}`,
        );
      }
    }
    return prev as JsonMap;
  }

  private atLeast040(): boolean {
    return compareVersions(this.list.cniVersion || '0.1.0', '0.4.0') >= 0;
  }

  /** del runs DEL through the list in reverse; `result` is the ADD result (used from 0.4.0 on). */
  del(a: Attachment, result?: unknown): void {
    const prev = this.atLeast040() ? result : undefined;
    for (let i = this.list.plugins.length - 1; i >= 0; i--) this.run(i, 'DEL', a, prev);
  }

  /** check runs CHECK through the list with the ADD result. */
  check(a: Attachment, result: unknown): void {
    if (!this.atLeast040())
      throw new CniError(
        CNI_ERR.incompatibleVersion,
        `configuration version "${this.list.cniVersion}" does not support the CHECK command`,
      );
    for (let i = 0; i < this.list.plugins.length; i++) this.run(i, 'CHECK', a, result);
  }

  /** version asks plugin `type` which CNI versions it supports. */
  version(type: string): { cniVersion: string; supportedVersions: string[] } {
    const r = execPlugin(
      findInPath(type, this.o.binDirs),
      'VERSION',
      JSON.stringify({ cniVersion: this.list.cniVersion }),
      {
        env: { ...this.env({ containerId: '', netns: '', ifName: '' }), CNI_PATH: 'dummy' },
        prefix: this.o.prefix,
        stderr: this.o.quiet ? 'pipe' : 'inherit',
      },
    );
    return JSON.parse(r.stdout) as { cniVersion: string; supportedVersions: string[] };
  }
}

/**
 * skel: the CNI plugin skeleton — what containernetworking/cni `pkg/skel` does before and after a
 * plugin's own ADD/DEL/CHECK, with the same checks, order, codes and messages as the Debian plugins
 * (CNI library 1.1) that weft's plugin delegates to, so a runtime sees one consistent behaviour:
 *   1. CNI_COMMAND: absent prints the "about" text on stderr (exit 0); unknown is code 4
 *   2. required CNI_* variables per command (code 4: `required env variables [..] missing`)
 *   3. VERSION answers from the supported list, without reading the config further
 *   4. the config: JSON (code 6), a network name (code 7), the container ID and interface name (4)
 *   5. the config's cniVersion must be supported (code 1); CHECK needs 0.4.0 or later (code 1)
 *   6. the command; an error is printed as the pretty JSON the Go plugins print, exit 1
 * CNI spec: https://github.com/containernetworking/cni/blob/main/SPEC.md ("Error codes").
 */
import { CniError } from '../errors';

/** SUPPORTED_VERSIONS are the CNI versions weft's plugin speaks: exactly its delegates' (Debian's plugins 1.1). */
export const SUPPORTED_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;

/** CNI_ERR are the CNI spec's error codes weft's plugin returns. */
export const CNI_ERR = {
  incompatibleVersion: 1,
  unknownContainer: 3,
  invalidEnvironment: 4,
  decodingFailure: 6,
  invalidNetworkConfig: 7,
  internal: 999,
} as const;

/** CniCommand is a CNI operation. */
export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

/** CmdArgs is one invocation, as skel hands it to a plugin. */
export interface CmdArgs {
  readonly command: Exclude<CniCommand, 'VERSION'>;
  readonly containerId: string;
  readonly netns: string;
  readonly ifName: string;
  readonly args: string;
  /** CNI_PATH split on `:`. */
  readonly path: readonly string[];
  readonly stdin: string;
  /** The config's cniVersion ("0.1.0" when absent, as skel decodes it). */
  readonly cniVersion: string;
}

/** PluginFns are a plugin's handlers; each returns what to print on stdout (may be empty). */
export interface PluginFns {
  add(a: CmdArgs): string;
  del(a: CmdArgs): string;
  check(a: CmdArgs): string;
}

/** SkelOutput is what the process prints and exits with. */
export interface SkelOutput {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const REQUIRED: Record<CniCommand, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  VERSION: [],
};

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** versionInfo is the VERSION answer. */
export function versionInfo(): string {
  return JSON.stringify({ cniVersion: '1.0.0', supportedVersions: SUPPORTED_VERSIONS }) + '\n';
}

/** errorJson prints a CNI error as the Go plugins do (4-space indent, `details` only when set). */
export function errorJson(e: CniError): string {
  const o: Record<string, unknown> = { code: e.cniCode, msg: e.message };
  if (e.details) o.details = e.details;
  return JSON.stringify(o, null, 4);
}

/** compareVersions orders two `x.y.z` CNI versions (-1, 0, 1); throws on a malformed one. */
export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i]! < pb[i]! ? -1 : 1;
  return 0;
}

function parseVersion(v: string): number[] {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  if (!m) throw new CniError(CNI_ERR.decodingFailure, `invalid version "${v}": must be x.y.z`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

function validateIfName(name: string): void {
  const bad = (msg: string): never => {
    throw new CniError(CNI_ERR.invalidEnvironment, msg);
  };
  if (name === '') bad('interface name is empty');
  if (Buffer.byteLength(name) > 15) bad('interface name is too long');
  if (name === '.' || name === '..') bad('interface name is . or ..');
  if (/[/:\s]/.test(name)) bad('interface name contains / or : or whitespace characters');
}

function check(env: NodeJS.ProcessEnv, stdin: string): { cmd: CniCommand; args: CmdArgs | null } {
  const given = env.CNI_COMMAND ?? '';
  if (!Object.hasOwn(REQUIRED, given))
    throw new CniError(CNI_ERR.invalidEnvironment, `unknown CNI_COMMAND: ${given}`);
  const cmd = given as CniCommand;
  const missing = REQUIRED[cmd].filter((k) => (env[k] ?? '') === '');
  if (missing.length > 0)
    throw new CniError(CNI_ERR.invalidEnvironment, `required env variables [${missing.join(',')}] missing`);
  if (cmd === 'VERSION') return { cmd, args: null };
  let conf: unknown;
  try {
    conf = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(CNI_ERR.decodingFailure, `error unmarshall network config: ${(e as Error).message}`);
  }
  if (conf === null || typeof conf !== 'object' || Array.isArray(conf))
    throw new CniError(CNI_ERR.decodingFailure, 'error unmarshall network config: not a JSON object');
  const c = conf as Record<string, unknown>;
  if (c.name === undefined || c.name === '')
    throw new CniError(CNI_ERR.invalidNetworkConfig, 'missing network name');
  if (typeof c.name !== 'string' || !NAME_RE.test(c.name))
    throw new CniError(
      CNI_ERR.invalidNetworkConfig,
      'invalid characters found in network name',
      String(c.name),
    );
  const containerId = env.CNI_CONTAINERID ?? '';
  if (!NAME_RE.test(containerId))
    throw new CniError(CNI_ERR.invalidEnvironment, 'invalid characters in containerID', containerId);
  validateIfName(env.CNI_IFNAME ?? '');
  if (c.cniVersion !== undefined && typeof c.cniVersion !== 'string')
    throw new CniError(
      CNI_ERR.decodingFailure,
      `decoding version from network config: "cniVersion" must be a string (got ${JSON.stringify(c.cniVersion)})`,
    );
  const cniVersion = (c.cniVersion as string | undefined) || '0.1.0';
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion))
    throw new CniError(
      CNI_ERR.incompatibleVersion,
      'incompatible CNI versions',
      `config is "${cniVersion}", plugin supports [${SUPPORTED_VERSIONS.map((v) => `"${v}"`).join(' ')}]`,
    );
  if (cmd === 'CHECK' && compareVersions(cniVersion, '0.4.0') < 0)
    throw new CniError(CNI_ERR.incompatibleVersion, 'config version does not allow CHECK');
  return {
    cmd,
    args: {
      command: cmd as CmdArgs['command'],
      containerId,
      netns: env.CNI_NETNS ?? '',
      ifName: env.CNI_IFNAME ?? '',
      args: env.CNI_ARGS ?? '',
      path: (env.CNI_PATH ?? '').split(':').filter((p) => p !== ''),
      stdin,
      cniVersion,
    },
  };
}

/**
 * pluginMain runs one CNI invocation: `env` is the process environment, `stdin` the config.
 * Never throws: every failure becomes the CNI error JSON on stdout and exit code 1.
 */
export function pluginMain(env: NodeJS.ProcessEnv, stdin: string, fns: PluginFns, about: string): SkelOutput {
  if ((env.CNI_COMMAND ?? '') === '')
    return {
      stdout: '',
      stderr: `${about}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`,
      exitCode: 0,
    };
  try {
    const { cmd, args } = check(env, stdin);
    if (cmd === 'VERSION' || !args) return { stdout: versionInfo(), stderr: '', exitCode: 0 };
    const out = cmd === 'ADD' ? fns.add(args) : cmd === 'DEL' ? fns.del(args) : fns.check(args);
    return { stdout: out, stderr: '', exitCode: 0 };
  } catch (e) {
    const err =
      e instanceof CniError ? e : new CniError(CNI_ERR.internal, e instanceof Error ? e.message : String(e));
    return { stdout: errorJson(err), stderr: '', exitCode: 1 };
  }
}

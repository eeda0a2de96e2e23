/**
 * flannel: the `flannel` CNI meta-plugin's commands (flannel-io/cni-plugin `flannel.go`,
 * `flannel_linux.go`), on top of skel.ts:
 *   ADD    read the plugin config and subnet.env, render the delegate (netconf.ts), save it to
 *          `<dataDir>/<containerID>` (dir 0700, file 0600, synced) for DEL, then run the delegate
 *          (bridge by default) with ADD and print its result
 *   DEL    replay the saved delegate config with DEL, then remove it; no saved config is success
 *          (the container is already gone, as the spec allows)
 *   CHECK  run the delegate's CHECK with the saved config and the runtime's prevResult, its
 *          gateway-less routes given the gateway they were installed with (gateways.ts)
 *          (flannel's plugin does nothing here; weft really checks)
 * Errors keep flannel's messages; a stale cni0 is explained (stale-bridge.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { CniError } from '../errors';
import { goJsonMarshal } from './go-json';
import { execPlugin, findInPath } from './invoke';
import { FlannelNetConf, loadFlannelNetConf, renderDelegate } from './netconf';
import { withRouteGateways } from './gateways';
import { explainStaleBridge } from './stale-bridge';
import { CNI_ERR, CmdArgs, PluginFns } from './skel';
import { FlannelSubnetEnv, loadFlannelSubnetEnv } from './subnet-env';

/** FlannelPluginOptions are the seams tests use; production passes none. */
export interface FlannelPluginOptions {
  /** Diagnostics (flannel prints the rendered delegate config here). Default: process.stderr. */
  readonly log?: (s: string) => void;
  /** Environment for delegates (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

const SUBNET_ENV_HINT =
  'subnet.env is written by weft run (or flanneld) once this node has its subnet; check that it runs on this node ' +
  'and that its --subnet-file is the plugin\'s "subnetFile"';

function writeAndSync(file: string, data: string): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function goFileError(op: string, file: string, e: unknown): CniError {
  const code = (e as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    EACCES: 'permission denied',
    ENOTDIR: 'not a directory',
    EROFS: 'read-only file system',
  };
  return new CniError(CNI_ERR.internal, `${op} ${file}: ${(code && words[code]) ?? (e as Error).message}`);
}

/** flannelPlugin returns the ADD/DEL/CHECK handlers of the flannel-compatible plugin. */
export function flannelPlugin(o: FlannelPluginOptions = {}): PluginFns {
  const log = o.log ?? ((s: string) => void process.stderr.write(s));
  const baseEnv = o.env ?? process.env;
  // The delegate runs for the same container as this invocation, whatever the base environment holds.
  const delegateEnv = (a: CmdArgs): NodeJS.ProcessEnv => ({
    ...baseEnv,
    CNI_CONTAINERID: a.containerId,
    CNI_NETNS: a.netns,
    CNI_IFNAME: a.ifName,
    CNI_ARGS: a.args,
    CNI_PATH: a.path.join(':'),
  });

  const add = (a: CmdArgs): string => {
    let n: FlannelNetConf;
    try {
      n = loadFlannelNetConf(a.stdin);
    } catch (e) {
      throw new CniError(CNI_ERR.internal, `loadFlannelNetConf failed: ${(e as Error).message}`);
    }
    let fenv: FlannelSubnetEnv;
    try {
      fenv = loadFlannelSubnetEnv(n.subnetFile);
    } catch (e) {
      const msg = `loadFlannelSubnetEnv failed: ${(e as Error).message}`;
      throw new CniError(CNI_ERR.internal, msg, /no such file/.test(msg) ? SUBNET_ENV_HINT : '');
    }
    const delegate = renderDelegate(n, fenv);
    const bytes = goJsonMarshal(delegate);
    log(`delegateAdd: netconf sent to delegate plugin:\n${bytes}\n`);
    const file = path.join(n.dataDir, a.containerId);
    try {
      fs.mkdirSync(n.dataDir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw goFileError('mkdir', n.dataDir, e);
    }
    try {
      writeAndSync(file, bytes);
    } catch (e) {
      throw goFileError('open', file, e);
    }
    try {
      return execPlugin(findInPath(delegate.type as string, a.path), 'ADD', bytes, { env: delegateEnv(a) })
        .stdout;
    } catch (e) {
      if (e instanceof CniError) throw explainStaleBridge(e, n.subnetFile) ?? e;
      throw e;
    }
  };

  /** cached reads the delegate config saved by ADD, or null when there is none. */
  const cached = (a: CmdArgs): { file: string; bytes: string; type: string; corrupt: boolean } | null => {
    const n = loadFlannelNetConf(a.stdin);
    const file = path.join(n.dataDir, a.containerId);
    let bytes: string;
    try {
      bytes = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw goFileError('open', file, e);
    }
    let type = '';
    try {
      const t = (JSON.parse(bytes) as { type?: unknown }).type;
      type = typeof t === 'string' ? t : '';
    } catch (e) {
      // flannel leaves an unreadable cache in place and succeeds: the runtime cannot repair it either.
      log(`failed to parse netconf: ${(e as Error).message}`);
      return { file, bytes, type: '', corrupt: true };
    }
    return { file, bytes, type, corrupt: false };
  };

  const del = (a: CmdArgs): string => {
    const c = cached(a);
    if (!c || c.corrupt) return '';
    execPlugin(findInPath(c.type, a.path), 'DEL', c.bytes, { env: delegateEnv(a) });
    fs.rmSync(c.file, { force: true });
    return '';
  };

  const check = (a: CmdArgs): string => {
    const c = cached(a);
    if (!c)
      throw new CniError(
        CNI_ERR.unknownContainer,
        `no delegate config saved for container "${a.containerId}": ADD did not run for it on this node`,
      );
    if (c.corrupt) throw new CniError(CNI_ERR.decodingFailure, `saved delegate config ${c.file} is not JSON`);
    const conf = JSON.parse(c.bytes) as Record<string, unknown>;
    const prev = (JSON.parse(a.stdin) as { prevResult?: unknown }).prevResult;
    if (prev !== undefined) conf.prevResult = withRouteGateways(prev);
    return execPlugin(findInPath(c.type, a.path), 'CHECK', goJsonMarshal(conf), { env: delegateEnv(a) })
      .stdout;
  };

  return { add, del, check };
}

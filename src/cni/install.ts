/**
 * install: puts weft's CNI plugin into a CNI bin directory under the name a conflist uses
 * (`flannel`), so a stock 10-flannel.conflist works unchanged.
 *
 * The installed file is a three-line Node script whose `#!` is the absolute path of the node that
 * ran the install and whose body loads this checkout's dist/src/cni/main.js: runtimes start
 * plugins with a sparse environment, so nothing may depend on PATH. It is written to a temporary
 * name and renamed, so a pod being created meanwhile never runs half a file; an existing file that
 * is not weft's (flannel's own binary, say) is only replaced with `force`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors';

/** MARKER identifies a file written by installPlugin. */
export const MARKER = "weft's flannel-compatible CNI plugin";

/** STOCK_CONFLIST is kube-flannel's cni-conf.json, the config the plugin is made for. */
export const STOCK_CONFLIST = {
  name: 'cbr0',
  cniVersion: '0.3.1',
  plugins: [
    { type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } },
    { type: 'portmap', capabilities: { portMappings: true } },
  ],
};

/** pluginScript is the installed file's text. */
export function pluginScript(nodePath: string, mainJs: string): string {
  return [
    `#!${nodePath}`,
    `// ${MARKER}, installed by \`weft cni install\`; reinstall after moving node or the checkout.`,
    `require(${JSON.stringify(mainJs)}).main();`,
    '',
  ].join('\n');
}

/** InstallOptions configure installPlugin. */
export interface InstallOptions {
  /** CNI bin directory (created if missing). */
  readonly dir: string;
  /** File name (default `flannel`). */
  readonly name?: string;
  /** Replace a file that is not weft's. */
  readonly force?: boolean;
  /** Interpreter (default: this process's node). */
  readonly nodePath?: string;
}

/** installPlugin writes the plugin and returns its path. */
export function installPlugin(o: InstallOptions): string {
  const name = o.name ?? 'flannel';
  if (name === '' || name.includes('/'))
    throw new ConfigError('--name', 'must be a file name without "/"', name);
  const target = path.join(o.dir, name);
  const mainJs = path.join(__dirname, 'main.js');
  if (!fs.existsSync(mainJs))
    throw new ConfigError('weft cni install', 'needs the built plugin (run npm run build)', mainJs);
  let existing: string | null = null;
  try {
    existing = fs.readFileSync(target, 'utf8');
  } catch {
    existing = null;
  }
  if (existing !== null && !existing.includes(MARKER) && !o.force)
    throw new ConfigError(
      target,
      "exists and is not weft's plugin (flannel's own binary?); pass --force to replace it",
    );
  fs.mkdirSync(o.dir, { recursive: true, mode: 0o755 });
  const tmp = path.join(o.dir, `.${name}.weft-${process.pid}`);
  fs.writeFileSync(tmp, pluginScript(o.nodePath ?? process.execPath, mainJs), { mode: 0o755 });
  fs.chmodSync(tmp, 0o755);
  fs.renameSync(tmp, target);
  return target;
}

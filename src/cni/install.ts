/**
 * install: puts weft's CNI plugin into a CNI bin directory under the name a conflist uses
 * (`flannel`), so a stock 10-flannel.conflist works unchanged.
 *
 * The installed file is a three-line Node script whose `#!` is the absolute path of the node that
 * ran the install and whose body loads this checkout's dist/src/cni/main.js: runtimes start
 * plugins with a sparse environment, so nothing may depend on PATH. It is written to a temporary
 * name and renamed, so a pod being created meanwhile never runs half a file; an existing file that
 * is not weft's (flannel's own binary, say) is only replaced with `force`.
 *
 * With `bundle`, the plugin's own modules (its whole import graph: a few dozen kB, no npm package)
 * are copied next to it into `<dir>/.<name>.weft/` and the script loads that copy, so the plugin
 * keeps working on a host where the checkout does not exist — a DaemonSet's init container
 * installs it this way, with `nodePath` naming the host's node.
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
  /** Copy the plugin's modules next to it instead of loading them from this checkout. */
  readonly bundle?: boolean;
}

/** pluginModules lists the compiled files the plugin loads (main.js and its imports), absolute. */
export function pluginModules(mainJs: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/require\("(\.{1,2}\/[^"]+)"\)/g)) {
      const base = path.resolve(path.dirname(file), m[1]!);
      visit(fs.existsSync(`${base}.js`) ? `${base}.js` : path.join(base, 'index.js'));
    }
  };
  visit(mainJs);
  return [...seen].sort();
}

/** copyBundle copies the plugin's modules under `dest`, keeping their layout below dist/src; returns the copied main.js. */
function copyBundle(mainJs: string, dest: string): string {
  const srcRoot = path.resolve(path.dirname(mainJs), '..');
  fs.rmSync(dest, { recursive: true, force: true });
  for (const f of pluginModules(mainJs)) {
    const rel = path.relative(srcRoot, f);
    if (rel.startsWith('..'))
      throw new ConfigError('weft cni install --bundle', 'the plugin imports a file outside dist/src', f);
    fs.mkdirSync(path.join(dest, path.dirname(rel)), { recursive: true, mode: 0o755 });
    fs.copyFileSync(f, path.join(dest, rel));
  }
  return path.join(dest, path.relative(srcRoot, mainJs));
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
  const entry = o.bundle ? copyBundle(mainJs, path.join(o.dir, `.${name}.weft`)) : mainJs;
  const tmp = path.join(o.dir, `.${name}.weft-${process.pid}`);
  fs.writeFileSync(tmp, pluginScript(o.nodePath ?? process.execPath, entry), { mode: 0o755 });
  fs.chmodSync(tmp, 0o755);
  fs.renameSync(tmp, target);
  return target;
}

/**
 * The `flannel` CNI plugin process (installed by `weft cni install`, or bin/weft-cni): reads the
 * config from stdin and CNI_* from the environment, prints the result or the CNI error JSON, exits.
 *
 * A runtime starts one process per pod and command, so start-up time is the plugin's cost: this
 * file imports only the cni modules, node built-ins and src/errors (no dataplane, no native addon,
 * no npm package).
 */
import fs from 'node:fs';
import { flannelPlugin } from './flannel';
import { pluginMain } from './skel';

/** ABOUT is what the plugin prints on stderr when run without CNI_COMMAND. */
export const ABOUT =
  'CNI Plugin flannel (weft): flannel-compatible meta-plugin; renders bridge + host-local from subnet.env';

function readStdin(): string {
  try {
    return fs.readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

/** main runs one invocation and sets the exit code. */
export function main(): void {
  const stdin = process.env.CNI_COMMAND ? readStdin() : '';
  const r = pluginMain(process.env, stdin, flannelPlugin(), ABOUT);
  if (r.stderr) process.stderr.write(r.stderr);
  if (r.stdout) process.stdout.write(r.stdout);
  process.exitCode = r.exitCode;
}

if (require.main === module) main();

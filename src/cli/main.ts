/**
 * weft command-line entry point: dispatches `weft <command>` to `src/cli/commands/<command>.ts`.
 *
 * Each command module exports `run(argv: string[]): Promise<number>` (the exit code) and
 * `usage: string`. Commands are loaded lazily so `weft explain` does not load the native addon.
 *
 * Exit codes, the same for every command (docs/errors.md): 0 success; 1 the command ran and
 * failed (a WeftError: a missing device or file, a refused system call, a store that is down);
 * 2 a bad command line (unknown command or flag, missing argument, a value that breaks its
 * flag's rule). Errors are one line on stderr, `weft COMMAND: MESSAGE [CODE]`; a file that cannot
 * be read or written is one of them (WEFT_ERR_FILE), not a stack trace.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlagValueError, WeftError } from '../errors';
import { fileErrorFrom } from './files';

/** A CLI command module. */
export interface Command {
  /** One-paragraph usage text, printed by `weft help <command>` and on usage errors. */
  usage: string;
  /** Runs the command; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** COMMANDS maps each subcommand to its module (under ./commands) and a one-line summary. */
export const COMMANDS: Record<string, { module: string; summary: string }> = {
  demo: { module: 'demo', summary: 'build a 3-node namespace testbed, ping every pair, iperf3, clean up' },
  run: { module: 'run', summary: 'run a flannel-compatible node (lease a subnet, sync routes, forward)' },
  link: { module: 'link', summary: 'one overlay link by hand: TUN + VXLAN/flannel-UDP with explicit peers' },
  pcap: { module: 'pcap', summary: 'pcap encap|decap: wrap or unwrap overlay frames in a pcap file' },
  explain: { module: 'explain', summary: 'print one frame layer by layer, byte by byte, with RFC sections' },
  capture: {
    module: 'capture',
    summary: 'live decoded capture of VXLAN / flannel-UDP on an underlay interface',
  },
  trace: { module: 'trace', summary: 'which route, peer and outer headers a packet to DST_IP would get' },
  doctor: {
    module: 'doctor',
    summary: 'check a node (MTUs, leases, routes, iptables, peers) and print each fix',
  },
  'mtu-probe': { module: 'mtu-probe', summary: 'find the overlay path MTU with DF-set ICMP echoes' },
  bench: { module: 'bench', summary: 'measure weft against kernel VXLAN, socat and veth in namespaces' },
  cni: { module: 'cni', summary: 'install the flannel-compatible CNI plugin; print the stock conflist' },
};

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: weft <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nweft help <command> shows a command's options; weft --version prints the version.\nExit status: 0 ok, 1 the command failed, 2 a bad command line (docs/errors.md).`;
}

async function load(name: string): Promise<Command | undefined> {
  const entry = COMMANDS[name];
  if (!entry) return undefined;
  try {
    return (await import(`./commands/${entry.module}`)) as Command;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String(err).includes(entry.module)) {
      return undefined;
    }
    throw err;
  }
}

/** version is weft's version, from package.json. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** main runs the CLI with `argv` (without node and script) and sets the process exit code. */
export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`weft ${version()}\n`);
    return;
  }
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    const cmd = rest[0] ? await load(rest[0]) : undefined;
    if (rest[0] && !cmd) {
      process.stderr.write(`weft help: unknown command '${rest[0]}'\n\n${help()}\n`);
      process.exitCode = 2;
      return;
    }
    process.stdout.write((cmd ? cmd.usage : help()) + '\n');
    return;
  }
  const cmd = await load(name);
  if (!cmd) {
    process.stderr.write(`weft: unknown or unavailable command '${name}'\n\n${help()}\n`);
    process.exitCode = 2;
    return;
  }
  // Every command answers --help / -h (and Go's -help, as in flanneld lines) before its own parsing.
  if (rest.includes('--help') || rest.includes('-h') || rest.includes('-help')) {
    process.stdout.write(cmd.usage + '\n');
    return;
  }
  try {
    process.exitCode = await cmd.run(rest);
  } catch (thrown) {
    const err = thrown instanceof WeftError ? thrown : fileErrorFrom(thrown);
    if (!err) throw thrown;
    process.stderr.write(`weft ${name}: ${err.message} [${err.code}]\n`);
    const usage = err.code === 'WEFT_ERR_USAGE';
    process.exitCode = usage || err instanceof FlagValueError ? 2 : 1;
    if (usage) process.stderr.write(`\n${cmd.usage}\n`);
    else if (err instanceof FlagValueError) process.stderr.write(`(weft help ${name} lists the options)\n`);
  }
}

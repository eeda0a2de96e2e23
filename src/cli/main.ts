/**
 * weft command-line entry point: dispatches `weft <command>` to `src/cli/commands/<command>.ts`.
 *
 * Each command module exports `run(argv: string[]): Promise<number>` (the exit code) and
 * `usage: string`. Commands are loaded lazily so `weft explain` does not load the native addon.
 */
import { WeftError } from '../errors';

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
  'mtu-probe': { module: 'mtu-probe', summary: 'find the overlay path MTU with DF-set ICMP echoes' },
  bench: { module: 'bench', summary: 'measure weft against kernel VXLAN, socat and veth in namespaces' },
};

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: weft <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nweft help <command> shows a command's options.`;
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

/** main runs the CLI with `argv` (without node and script) and sets the process exit code. */
export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    const cmd = rest[0] ? await load(rest[0]) : undefined;
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
  } catch (err) {
    if (err instanceof WeftError) {
      process.stderr.write(`weft ${name}: ${err.message} [${err.code}]\n`);
      process.exitCode = err.code === 'WEFT_ERR_USAGE' ? 2 : 1;
      if (err.code === 'WEFT_ERR_USAGE') process.stderr.write(`\n${cmd.usage}\n`);
    } else {
      throw err;
    }
  }
}

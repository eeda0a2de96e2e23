/**
 * `weft doctor [flanneld flags]`: checks this node and prints each finding with its fix
 * (src/doctor/doctor.ts). It reads the same flags, FLANNELD_* variables and store as `weft run`,
 * so a node's unit-file command line works as is, on a weft node or a kernel flannel.1 node.
 * Exit codes: 0 no problem found, 1 a problem found (or the flags are bad), 2 a bad command line.
 */
import { ConfigError } from '../../errors';
import { FlagSpec, flagsUsage, parseFlags } from '../../control/flags';
import { runDoctor } from '../../doctor/doctor';
import { hasProblem } from '../../doctor/finding';
import { renderJson, renderText } from '../../doctor/render';

/** DOCTOR_EXTRA_FLAGS are doctor's own flags beyond `weft run`'s. */
export const DOCTOR_EXTRA_FLAGS: readonly FlagSpec[] = [
  { name: 'json', kind: 'bool', default: false, help: 'print the findings as one JSON document', weft: true },
  {
    name: 'probe',
    kind: 'bool',
    default: true,
    help: 'send an ICMP echo through the overlay to every peer (and a UDP port probe to a peer that does not answer)',
    weft: true,
  },
  {
    name: 'probe-timeout',
    kind: 'int',
    default: 1000,
    help: 'wait per probe, in milliseconds',
    check: (v: number) => (v >= 10 && v <= 60_000 ? null : 'must be in 10..60000 (milliseconds)'),
    weft: true,
  },
  // Accepted so that a `weft run` line can be pasted whole.
  { name: 'debug', kind: 'bool', default: false, help: "weft run's --debug (ignored by doctor)", weft: true },
];

/** usage is the `weft help doctor` text. */
export const usage = `usage: weft doctor [flags]

Checks this node and prints each finding with its fix: device MTUs against the underlay and
FLANNEL_MTU; subnet.env against the lease and cni0's address; node.spec.podCIDR in Kubernetes mode;
routes, neighbour and FDB entries against the leases (kernel flannel.1 nodes too); flannel's
iptables chains when the flags want them; an echo through the overlay to every peer (UDP 8472 or
Backend.Port); checksum offload on the underlay; clock skew against the store and lease expiry.

Give it the node's own flags (a flanneld or weft run command line, or the FLANNELD_* variables of
its unit file): it reads the same store and files. It changes nothing on the node; only the probes
send packets. Exit status: 0 when no problem was found, 1 when one was, 2 for a bad command line.

flags (weft run's, then doctor's; every flag also reads FLANNELD_<NAME>):
${flagsUsage(DOCTOR_EXTRA_FLAGS)}`;

/** run executes `weft doctor`. */
export async function run(argv: string[]): Promise<number> {
  let flags;
  try {
    flags = parseFlags(argv, process.env, DOCTOR_EXTRA_FLAGS);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`weft doctor: ${e.message} [${e.code}]\n`);
    return 1;
  }
  const report = await runDoctor(flags, {
    probe: flags.extra.probe === true,
    timeoutMs: flags.extra['probe-timeout'] as number,
  });
  process.stdout.write(flags.extra.json === true ? renderJson(report) : renderText(report));
  return hasProblem(report.findings) ? 1 : 0;
}

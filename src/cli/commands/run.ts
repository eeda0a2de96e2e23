/**
 * `weft run [flanneld flags]`: a node of a flannel network (see src/daemon/daemon.ts for the
 * lifecycle). Flags are flanneld's where the feature exists, each also settable as
 * `FLANNELD_<NAME>` (the command line wins), plus weft's own (`--store`, `--metrics-port`, ...).
 * Logs are JSON lines on stderr (text on a terminal; --log-format chooses). Exit codes: 0 after
 * SIGINT/SIGTERM or when the lease was revoked (as flanneld), 1 for a configuration or startup
 * error (nothing written), 2 for a bad command line (an unknown flag, or a flag value that breaks
 * its rule).
 */
import type http from 'node:http';
import { UsageError, WeftError, ConfigError } from '../../errors';
import { FlagSpec, flagsUsage, parseFlags } from '../../control/flags';
import { Daemon } from '../../daemon/daemon';
import { closeServer, listen, makeHandler } from '../../daemon/http';
import { createLogger, LOG_FORMATS, resolveLogFormat } from '../../daemon/log';
import { createMetricsRegistry } from '../../metrics/metrics';
import { capYoungGeneration } from '../../dataplane/young-generation';

/** RUN_EXTRA_FLAGS are `weft run`'s flags beyond the shared control-plane set. */
export const RUN_EXTRA_FLAGS: readonly FlagSpec[] = [
  {
    name: 'debug',
    kind: 'bool',
    default: false,
    help: 'count packets and bytes per flow, and serve /debug/routes, /debug/stats and /debug/flows (for weft trace) on the metrics server (or the healthz server); they answer on loopback only (127.0.0.1:PORT) unless --metrics-ip (or --healthz-ip) is given explicitly',
    weft: true,
  },
  {
    name: 'log-format',
    kind: 'string',
    default: 'auto',
    help: 'log lines as json (one object per line, for machines), text (for people), or auto: text when stderr is a terminal, else json',
    check: (v: string) =>
      (LOG_FORMATS as readonly string[]).includes(v) ? null : `must be one of: ${LOG_FORMATS.join(', ')}`,
    weft: true,
  },
];

/** usage is the `weft help run` text. */
export const usage = `usage: weft run [flags]

Runs a node of a flannel network: leases a subnet from the store (embedded directory or etcd v3),
publishes it in flannel's lease JSON, writes subnet.env, creates the TUN device (flannel.<VNI> for
vxlan, flannel0 for udp) and keeps its routes in step with everyone else's leases. Stops on
SIGINT/SIGTERM, keeping the lease for the next start. Logs are JSON lines on stderr, or text
when stderr is a terminal (--log-format).

HTTP: --healthz-port and --metrics-port listen on 0.0.0.0 unless --healthz-ip / --metrics-ip say
otherwise (flanneld's healthz does). With --debug, /debug/* answers on loopback only unless the
server's address was given explicitly (--metrics-ip 0.0.0.0 opens it to the network).

flags (flanneld's first, then weft's; every flag also reads FLANNELD_<NAME>):
${flagsUsage(RUN_EXTRA_FLAGS)}`;

/** logFormatArg finds `--log-format` in argv when the flags as a whole did not parse. */
function logFormatArg(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!.replace(/^--?log-format/, '');
    if (a !== argv[i] && a.startsWith('=')) return a.slice(1);
    if (a === '' && argv[i] !== '') return argv[i + 1];
  }
  return process.env.FLANNELD_LOG_FORMAT;
}

/** run executes `weft run`; resolves with the exit code when the daemon has stopped. */
export async function run(argv: string[]): Promise<number> {
  capYoungGeneration();
  let flags;
  try {
    flags = parseFlags(argv, process.env, RUN_EXTRA_FLAGS);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const format = resolveLogFormat(logFormatArg(argv) ?? 'auto', process.stderr.isTTY === true);
    createLogger(0, undefined, format).error(e.message, { code: e.code, field: e.field });
    // A bad flag value is a bad command line (2, as for every command); a bad FLANNELD_* is not.
    return e.field.startsWith('--') ? 2 : 1;
  }
  if (flags.version) {
    process.stdout.write(`weft ${require('../../../../package.json').version as string}\n`);
    return 0;
  }
  const debug = flags.extra.debug === true;
  const log = createLogger(
    flags.v,
    undefined,
    resolveLogFormat(String(flags.extra['log-format']), process.stderr.isTTY === true),
  );
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((r) => (finish = r));
  const daemon = new Daemon({ flags, log, onFatal: (code) => finish(code) });
  const registry = flags.metricsPort > 0 ? createMetricsRegistry(daemon) : null;
  const src = {
    healthy: () => daemon.healthy(),
    ready: () => daemon.ready(),
    debugRoutes: () => daemon.debugRoutes(),
    stats: () => daemon.dataplane()?.stats() ?? null,
    flows: (top: number, ip?: number) => daemon.dataplane()?.flows(top, ip) ?? null,
    refresh: () => daemon.dataplane()?.refreshStats() ?? Promise.resolve(),
  };
  const servers: http.Server[] = [];
  const closeAll = async (): Promise<void> => {
    await Promise.all(servers.splice(0).map((s) => closeServer(s)));
  };

  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.error('second signal: exiting without cleanup', { signal: sig });
      process.exit(1);
    }
    log.info('shutting down', { signal: sig });
    void daemon.stop().then(() => finish(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const same =
      flags.healthzPort > 0 && flags.healthzPort === flags.metricsPort && flags.healthzIp === flags.metricsIp;
    // /debug leaks lease keys and flows: only an address the operator chose opens it beyond loopback.
    const debugOnHealthz = same || flags.metricsPort === 0;
    const debugIpFlag = debugOnHealthz ? 'healthz-ip' : 'metrics-ip';
    const debugLoopbackOnly = same
      ? !flags.explicit.has('healthz-ip') && !flags.explicit.has('metrics-ip')
      : !flags.explicit.has(debugIpFlag);
    const debugEps = { debugLoopbackOnly, debugAddressFlag: `--${debugIpFlag}` };
    if (flags.healthzPort > 0) {
      const eps = { health: true, metrics: same, debug: debug && debugOnHealthz, ...debugEps };
      servers.push(await listen(makeHandler(src, registry, eps), flags.healthzIp, flags.healthzPort));
      log.info('healthz server listening', { addr: `${flags.healthzIp}:${flags.healthzPort}` });
    }
    if (flags.metricsPort > 0 && !same) {
      servers.push(
        await listen(
          makeHandler(src, registry, { health: false, metrics: true, debug, ...debugEps }),
          flags.metricsIp,
          flags.metricsPort,
        ),
      );
      log.info('metrics server listening', { addr: `${flags.metricsIp}:${flags.metricsPort}` });
    }
    if (debug && flags.healthzPort === 0 && flags.metricsPort === 0) {
      throw new ConfigError('--debug', 'needs --metrics-port or --healthz-port to serve /debug on');
    }
    if (debug) {
      const port = debugOnHealthz ? flags.healthzPort : flags.metricsPort;
      const ip = debugOnHealthz ? flags.healthzIp : flags.metricsIp;
      log.info(
        debugLoopbackOnly
          ? `/debug endpoints answer on loopback only (127.0.0.1:${port}); set --${debugIpFlag} to serve them on an address`
          : `/debug endpoints answer on ${ip}:${port} (--${debugIpFlag} given)`,
      );
    }
    await daemon.start();
  } catch (e) {
    await daemon.stop();
    await closeAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (e instanceof UsageError) throw e;
    if (signals > 0) return 0;
    if (e instanceof WeftError) {
      const fields: Record<string, unknown> = { code: e.code };
      if (e instanceof ConfigError) fields.field = e.field;
      log.error(e.message, fields);
      return 1;
    }
    log.error('startup failed', { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    return 1;
  }
  const code = await done;
  await closeAll();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  log.info('stopped', { exitCode: code });
  return code;
}

/**
 * log: the daemon's structured logger — one JSON object per line on stderr:
 * `{"ts":"2026-11-25T10:00:00.000Z","level":"info","msg":"Subnet added: 10.244.2.0/24 via 192.0.2.3","fields":{...}}`
 * (`fields` only when there are any). Messages that flannel logs keep flannel's wording, so
 * runbooks that grep flanneld's output keep working. For a person at a terminal the same lines
 * come as text (`--log-format text`, or `auto` when stderr is a terminal):
 * `2026-11-25T10:00:00.000Z INFO  Subnet added: 10.244.2.0/24 via 192.0.2.3 key=value`.
 */

/** LogLevel orders messages; `debug` lines only appear with `-v` >= 1. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** LogFields are extra key/values of one log line. */
export type LogFields = Record<string, unknown>;

/** Logger writes one structured line per call. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** formatLogLine renders one log line (without the newline); errors become their message. */
export function formatLogLine(
  level: LogLevel,
  msg: string,
  fields?: LogFields,
  now: Date = new Date(),
): string {
  const line: Record<string, unknown> = { ts: now.toISOString(), level, msg };
  if (fields && Object.keys(fields).length > 0) {
    const f: LogFields = {};
    for (const [k, v] of Object.entries(fields)) f[k] = v instanceof Error ? v.message : v;
    line.fields = f;
  }
  return JSON.stringify(line, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/**
 * batchedStderr writes lines to stderr once per event-loop turn: stderr on a file or pipe is a
 * synchronous write, and a burst of lease changes logs thousands of lines (one write each would
 * hold up forwarding). Whatever is pending is written when the process exits.
 */
function batchedStderr(): (line: string) => void {
  let pending: string[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    process.stderr.write(text);
  };
  process.on('exit', flush);
  return (line) => {
    if (pending.length === 0) setImmediate(flush);
    pending.push(line);
  };
}

/** LogFormat is how lines are written: JSON objects for machines, or text for people. */
export type LogFormat = 'json' | 'text';

/** LOG_FORMATS are the `--log-format` values; `auto` is text on a terminal, else JSON. */
export const LOG_FORMATS = ['auto', 'json', 'text'] as const;

/** resolveLogFormat turns a `--log-format` value into the format to use, given whether stderr is a TTY. */
export function resolveLogFormat(flag: string, stderrIsTty: boolean): LogFormat {
  if (flag === 'json' || flag === 'text') return flag;
  return stderrIsTty ? 'text' : 'json';
}

function textValue(v: unknown): string {
  if (v instanceof Error) v = v.message;
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? String(v);
}

/** formatTextLine renders one log line as text: time, level, message, then key=value fields. */
export function formatTextLine(
  level: LogLevel,
  msg: string,
  fields?: LogFields,
  now: Date = new Date(),
): string {
  const kv = Object.entries(fields ?? {}).map(([k, v]) => `${k}=${textValue(v)}`);
  return [now.toISOString(), level.toUpperCase().padEnd(5), msg, ...kv].join(' ');
}

/**
 * createLogger returns a Logger writing to `write` (default: stderr) in `format` (default JSON);
 * `verbosity` 0 hides debug.
 */
export function createLogger(
  verbosity = 0,
  write: (line: string) => void = batchedStderr(),
  format: LogFormat = 'json',
): Logger {
  const render = format === 'text' ? formatTextLine : formatLogLine;
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void =>
    write(render(level, msg, fields) + '\n');
  return {
    debug: (m, f) => {
      if (verbosity > 0) emit('debug', m, f);
    },
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

/** parseLogLine reads one line back (tests, the demo); null when it is not a log object. */
export function parseLogLine(
  line: string,
): { ts: string; level: LogLevel; msg: string; fields?: LogFields } | null {
  if (!line.startsWith('{')) return null;
  try {
    const v = JSON.parse(line) as { ts?: unknown; level?: unknown; msg?: unknown; fields?: LogFields };
    if (typeof v.msg !== 'string' || typeof v.level !== 'string' || typeof v.ts !== 'string') return null;
    return v as { ts: string; level: LogLevel; msg: string; fields?: LogFields };
  } catch {
    return null;
  }
}

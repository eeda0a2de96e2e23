/**
 * args: the flag parser of the `weft <command>` commands (all but `weft run`, whose flanneld flags
 * and FLANNELD_* environment are table-driven in src/control/flags.ts).
 *
 * A command declares its flags (booleans, flags with a value, value flags that may repeat, other
 * spellings) and gets back strings; checking the values stays with the command, which names the
 * flag in its ConfigError or UsageError. The rules, the same for every command:
 *   - `--flag=value` or `--flag value`; the value is the next argument whatever it looks like (as
 *     in Go's flag package), so `--dev --local` sets --dev to `--local`. Only `--` flags split at
 *     `=`: `-c=5` is not a flag.
 *   - An argument not starting with `flagPrefix` is a positional, or an error when the command
 *     takes none.
 *   - A value flag given again replaces the value (or, with `once`, is an error); a `repeat` flag
 *     collects every value in order.
 * Unknown flags, a boolean with `=value`, a value flag at the end of argv, an empty value of a
 * `nonEmpty` flag, and (with `once`) a flag given twice are UsageErrors. The unknown / missing
 * texts come from the command, so each command keeps the messages it always printed.
 *
 * Values are checked with the helpers at the end (intValue, numberValue, choiceValue, listValue,
 * ipv4Value), the same for every command: a bad value is a FlagValueError naming the flag, the
 * rule and what was given (`--vni: must be an integer in 0..16777215 ("x")`). Exit codes, for
 * every command: 2 for a bad command line (UsageError, FlagValueError), 1 when the command ran
 * and failed (a missing device or file, a refused system call), 0 for success.
 */
import { isIPv4 } from 'node:net';
import { ConfigError, FlagValueError, UsageError } from '../errors';

/** ArgSpec declares a command's flags; `F` is the union of their canonical spellings. */
export interface ArgSpec<F extends string> {
  /** Flags without a value (`--debug`). */
  readonly bool?: readonly F[];
  /** Flags that take a value (`--dev NAME`). */
  readonly value?: readonly F[];
  /** Flags that take a value and may be given many times (`--peer A --peer B`). */
  readonly repeat?: readonly F[];
  /** Other spellings, e.g. `{ '-i': '--interface' }`; results are keyed by the declared flag. */
  readonly alias?: Readonly<Record<string, NoInfer<F>>>;
  /** Value flags whose value must not be empty: `--json=` is reported as a missing value. */
  readonly nonEmpty?: readonly NoInfer<F>[];
  /** A non-repeat flag given twice is a UsageError (`--dev given twice`) instead of last-one-wins. */
  readonly once?: boolean;
  /** Whether arguments that are not flags are collected in `positional` (default: they are errors). */
  readonly positional?: boolean;
  /** What starts a flag: `-` (default) or `--` (then `-x` and `-` are positionals). */
  readonly flagPrefix?: '-' | '--';
  /** The message for an unknown flag or an unwanted positional (default `unknown flag: ARG`). */
  readonly unknown?: (arg: string, flag: string) => string;
  /** The message for a missing value; `written` is the spelling used (default `FLAG needs a value`). */
  readonly missing?: (written: string, flag: F) => string;
}

/** ParsedArgs is a parsed command line: flag values as strings, plus the positionals in order. */
export class ParsedArgs<F extends string> {
  /** Arguments that are not flags or flag values, in order. */
  readonly positional: string[] = [];
  private readonly values = new Map<F, string[]>();
  private readonly spelled = new Map<F, string>();

  /** has tells whether `flag` was given (a boolean set, or a value flag given at least once). */
  has(flag: F): boolean {
    return this.values.has(flag);
  }

  /** get returns the last value given for `flag`, or undefined. */
  get(flag: F): string | undefined {
    return this.values.get(flag)?.at(-1);
  }

  /** all returns every value given for `flag`, in command-line order. */
  all(flag: F): readonly string[] {
    return this.values.get(flag) ?? [];
  }

  /** written returns the spelling used last for `flag` (`-c` for `--count`), for error messages. */
  written(flag: F): string {
    return this.spelled.get(flag) ?? flag;
  }

  /** add records one occurrence; used by parseArgv. */
  add(flag: F, written: string, value: string): void {
    const list = this.values.get(flag);
    if (list) list.push(value);
    else this.values.set(flag, [value]);
    this.spelled.set(flag, written);
  }
}

/** parseArgv parses `argv` (the arguments after `weft <command>`) as `spec` declares. */
export function parseArgv<const F extends string>(argv: readonly string[], spec: ArgSpec<F>): ParsedArgs<F> {
  const bool = new Set<string>(spec.bool);
  const repeat = new Set<string>(spec.repeat);
  const takesValue = new Set<string>([...(spec.value ?? []), ...repeat]);
  const nonEmpty = new Set<string>(spec.nonEmpty);
  const prefix = spec.flagPrefix ?? '-';
  const unknown = spec.unknown ?? ((arg: string) => `unknown flag: ${arg}`);
  const missing = spec.missing ?? ((written: string) => `${written} needs a value`);
  const out = new ParsedArgs<F>();

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith(prefix)) {
      if (!spec.positional) throw new UsageError(unknown(arg, arg));
      out.positional.push(arg);
      continue;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const written = eq > 0 ? arg.slice(0, eq) : arg;
    const flag = (spec.alias?.[written] ?? written) as F;
    let value = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (bool.has(flag)) {
      // `--debug=x` is not the flag --debug: reported whole, as an unknown argument.
      if (value !== undefined) throw new UsageError(unknown(arg, arg));
      value = '';
    } else if (takesValue.has(flag)) {
      value ??= argv[++i];
      if (value === undefined || (value === '' && nonEmpty.has(flag))) {
        throw new UsageError(missing(written, flag));
      }
    } else {
      throw new UsageError(unknown(arg, written));
    }
    if (spec.once && out.has(flag) && !repeat.has(flag)) throw new UsageError(`${written} given twice`);
    out.add(flag, written, value);
  }
  return out;
}

/** intValue checks that `text` is a decimal integer in min..max; FlagValueError naming `flag`. */
export function intValue(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) {
    throw new FlagValueError(flag, `must be an integer in ${min}..${max}`, JSON.stringify(text));
  }
  return n;
}

/** numberValue checks that `text` is a decimal number (fractions allowed) in min..max. */
export function numberValue(flag: string, text: string, min: number, max = Infinity): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || n < min || n > max) {
    const range = max === Infinity ? `>= ${min}` : `in ${min}..${max}`;
    throw new FlagValueError(flag, `must be a number ${range}`, JSON.stringify(text));
  }
  return n;
}

/** choiceValue checks that `text` is one of `choices` (`must be auto, vxlan or udp`). */
export function choiceValue<const T extends string>(flag: string, text: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(text)) return text as T;
  const words = choices.length === 1 ? choices[0] : `${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}`;
  throw new FlagValueError(flag, `must be ${words}`, JSON.stringify(text));
}

/** listValue splits a comma-separated value and checks each entry against `known`; no duplicates. */
export function listValue<const T extends string>(flag: string, text: string, known: readonly T[]): T[] {
  const list = text.split(',');
  for (const x of list) {
    if (!(known as readonly string[]).includes(x)) {
      throw new FlagValueError(
        flag,
        `must be a comma-separated list of ${known.join(', ')}`,
        JSON.stringify(x),
      );
    }
  }
  return [...new Set(list)] as T[];
}

/** ipv4Value checks that `text` is a dotted-quad IPv4 address. */
export function ipv4Value(flag: string, text: string): string {
  if (!isIPv4(text)) throw new FlagValueError(flag, 'must be an IPv4 address', JSON.stringify(text));
  return text;
}

/**
 * commandLine runs a command's argument parser and reports any ConfigError it throws (also from
 * shared parsers such as parseCidr or macToBuffer) as a FlagValueError, so every bad value on the
 * command line exits 2, whoever checked it.
 */
export function commandLine<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof ConfigError && !(err instanceof FlagValueError)) {
      const detail = err.message.slice(`${err.field}: ${err.rule}`.length).replace(/^ \((.*)\)$/s, '$1');
      throw new FlagValueError(err.field, err.rule, detail || undefined);
    }
    throw err;
  }
}

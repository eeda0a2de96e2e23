/**
 * offline-filter: the `-f` BPF filter of `weft capture -r FILE`, the same pcap-filter(7) language a
 * live capture hands to the kernel. libpcap compiles the expression for the file's link type and
 * runs it over each record (through the native addon, native/src/bpf.cc), so an expression means
 * exactly what it means to tcpdump.
 */
import { ConfigError, ToolMissingError } from '../errors';
import { loadBinding } from '../io/binding';

/** OfflineFilter is a compiled expression, per link type (a pcapng file may mix them). */
export class OfflineFilter {
  private readonly programs = new Map<number, Uint8Array>();

  /** Keeps `expression`; it is compiled for each link type on first use (`check` compiles one now). */
  constructor(readonly expression: string) {}

  /** check compiles the expression for `linkType`; throws ConfigError naming -f on a bad expression. */
  check(linkType: number): void {
    this.program(linkType);
  }

  /** matches reports whether the record (captured bytes, length on the wire) passes the filter. */
  matches(linkType: number, data: Uint8Array, wireLength: number): boolean {
    return loadBinding().pcapMatch(this.program(linkType), data, wireLength);
  }

  private program(linkType: number): Uint8Array {
    let p = this.programs.get(linkType);
    if (p) return p;
    const b = loadBinding();
    if (typeof b.pcapCompile !== 'function') {
      throw new ToolMissingError('pcapCompile in the native addon', 'npm run build:native');
    }
    try {
      p = b.pcapCompile(linkType, 262144, this.expression);
    } catch (err) {
      throw new ConfigError(
        '-f',
        `is not a valid pcap-filter(7) expression: ${(err as Error).message}`,
        JSON.stringify(this.expression),
      );
    }
    this.programs.set(linkType, p);
    return p;
  }
}

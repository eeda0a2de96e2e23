/**
 * src-port: the `--src-port fixed|flow` and `--src-port-range MIN-MAX` settings (weft link and
 * weft run / FLANNELD_SRC_PORT, FLANNELD_SRC_PORT_RANGE).
 *
 * RFC 7348 §5: the outer UDP source port SHOULD be a hash of the inner packet's flow, in the
 * dynamic/private range 49152-65535, so one flow keeps one port and flows spread over ECMP paths
 * and RSS queues. `flow` sends each flow from the socket of a source-port pool its hash picks
 * (src/io/src-port-pool.ts; a raw socket with `--io dgram`); it is the default for VXLAN over
 * `--io batch`, as kernel VXLAN hashes flows by default. `fixed` sends every frame from the
 * bound socket's port (8472): the default with `--io dgram`, and always for flannel-UDP.
 */
import { ConfigError } from '../errors';

/** SrcPortMode is the value of `--src-port`. */
export type SrcPortMode = 'fixed' | 'flow';

/**
 * DEFAULT_SRC_PORT_MODE is `--src-port` when not given, for VXLAN over `--io batch`, as kernel
 * VXLAN: measured at 0.90-1.25x of `fixed` (bench/README.md, "--src-port flow vs fixed").
 */
export const DEFAULT_SRC_PORT_MODE: SrcPortMode = 'flow';

/**
 * defaultSrcPort is `--src-port` when not given: `flow` for VXLAN over `--io batch` (the pool keeps
 * GSO), `fixed` otherwise (flannel-UDP keeps its port; `--io dgram` would need a raw socket).
 */
export function defaultSrcPort(backend: string, io: string): SrcPortMode {
  return backend === 'vxlan' && io === 'batch' ? DEFAULT_SRC_PORT_MODE : 'fixed';
}

/** SRC_PORT_MODES lists the valid `--src-port` values. */
export const SRC_PORT_MODES: readonly SrcPortMode[] = ['fixed', 'flow'];

/** DEFAULT_SRC_PORT_MIN / DEFAULT_SRC_PORT_MAX: RFC 7348 §5's recommended range, 49152-65535. */
export const DEFAULT_SRC_PORT_MIN = 49152;
export const DEFAULT_SRC_PORT_MAX = 65535;

/** DEFAULT_SRC_PORT_RANGE is the default `--src-port-range` text. */
export const DEFAULT_SRC_PORT_RANGE = `${DEFAULT_SRC_PORT_MIN}-${DEFAULT_SRC_PORT_MAX}`;

const RANGE_RULE = 'must be MIN-MAX with 1 <= MIN <= MAX <= 65535, e.g. 49152-65535';

/** validSrcPortRange reports whether 1 <= min <= max <= 65535 (integers). */
export function validSrcPortRange(min: number, max: number): boolean {
  return Number.isInteger(min) && Number.isInteger(max) && min >= 1 && min <= max && max <= 65535;
}

/** srcPortRangeRule returns null when `text` is a valid MIN-MAX range, else the rule it breaks. */
export function srcPortRangeRule(text: string): string | null {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(text);
  if (m === null) return RANGE_RULE;
  return validSrcPortRange(Number(m[1]), Number(m[2])) ? null : RANGE_RULE;
}

/** parseSrcPortRange parses `MIN-MAX`; throws ConfigError naming `field` when it is bad. */
export function parseSrcPortRange(text: string, field = '--src-port-range'): { min: number; max: number } {
  if (srcPortRangeRule(text) !== null) throw new ConfigError(field, RANGE_RULE, JSON.stringify(text));
  const dash = text.indexOf('-');
  return { min: Number(text.slice(0, dash)), max: Number(text.slice(dash + 1)) };
}

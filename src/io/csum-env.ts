/**
 * csum-env: `WEFT_CSUM` (environment), the benchmark knob that picks the addon's RFC 1071 sum loop
 * (native/src/csum.cc: `scalar`, `sse2`, `avx2`) instead of the fastest one the CPU runs, so a
 * before/after comparison can run in one tree. The addon reads it when it loads and ignores a
 * name it cannot honour; this check turns that into a config error at queue start.
 */
import { ConfigError } from '../errors';
import { loadBinding } from './binding';

/** CSUM_ENV names the environment variable. */
export const CSUM_ENV = 'WEFT_CSUM';

/**
 * checkCsumEnv throws a ConfigError naming WEFT_CSUM when it is set to a loop this addon and CPU
 * do not run. Unset or empty: nothing to check.
 */
export function checkCsumEnv(env: NodeJS.ProcessEnv = process.env): void {
  const v = (env[CSUM_ENV] ?? '').trim();
  if (v === '') return;
  const { supported } = loadBinding().csumVariants();
  if (!supported.includes(v)) throw new ConfigError(CSUM_ENV, `must be one of ${supported.join(', ')}`, v);
}

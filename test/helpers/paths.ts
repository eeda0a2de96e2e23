/**
 * paths: where the checkout and its CLI are, for tests of either kind. Kept apart from
 * `netns.ts` so a unit test can spawn `bin/weft` without importing the root-only harness
 * (scripts/check-test-split.js enforces that).
 */
import { join } from 'node:path';

/** REPO_ROOT is the repository root (this file runs from dist/test/helpers). */
export const REPO_ROOT = join(__dirname, '..', '..', '..');
/** WEFT_BIN is the CLI entry point the tests spawn (`node bin/weft ...`). */
export const WEFT_BIN = join(REPO_ROOT, 'bin', 'weft');

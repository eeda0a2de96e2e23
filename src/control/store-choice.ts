/**
 * store-choice: which lease store a command line selects, so that a flanneld line copied from a
 * unit file means what it means to flanneld.
 *
 * flanneld has one store (etcd), so `--etcd-endpoints`, `--etcd-prefix` and the other `--etcd-*`
 * flags, or their `FLANNELD_ETCD_*` variables, all point at etcd; weft takes any of them as the
 * choice of its etcd store. `--store` remains an explicit choice; `--store-dir` implies the
 * embedded store. With none of these, weft uses its embedded store (and the daemon warns, because
 * flanneld would use etcd at the default endpoints). Contradictions are ConfigErrors naming both
 * sides: `--store embedded` with an etcd flag other than `--etcd-prefix` (which also names the
 * embedded store's key layout), and `--store-dir` with the etcd store.
 */

import { ConfigError } from '../errors';

/** StoreKind is a lease store weft can open. */
export type StoreKind = 'embedded' | 'etcd';

/** ETCD_FLAGS are the flags that select the etcd store when given, in flanneld's help order. */
export const ETCD_FLAGS = [
  'etcd-endpoints',
  'etcd-prefix',
  'etcd-keyfile',
  'etcd-certfile',
  'etcd-cafile',
  'etcd-username',
  'etcd-password',
] as const;

/** StoreChoice is the resolved store and what chose it (a flag or variable name, or `default`). */
export interface StoreChoice {
  readonly store: StoreKind;
  /** `--store`, `FLANNELD_ETCD_ENDPOINTS`, `--store-dir`, ... or `default` when nothing chose. */
  readonly from: string;
}

/**
 * chooseStore resolves the store from the flags that were given. `given(name)` is where flag
 * `name` came from (`--name` or `FLANNELD_NAME`), or null when it was not given; `store` is the
 * value of `--store` when given.
 */
export function chooseStore(given: (name: string) => string | null, store: StoreKind | null): StoreChoice {
  const etcd = ETCD_FLAGS.map((n) => given(n)).filter((w): w is string => w !== null);
  const storeWhere = given('store');
  const dirWhere = given('store-dir');
  let choice: StoreChoice;
  if (store !== null && storeWhere !== null) {
    if (store === 'embedded') {
      const selecting = ETCD_FLAGS.filter((n) => n !== 'etcd-prefix')
        .map((n) => given(n))
        .filter((w): w is string => w !== null);
      if (selecting.length > 0) {
        throw new ConfigError(
          storeWhere,
          `must not be "embedded" when etcd flags are given: ${selecting.join(', ')} ${selecting.length === 1 ? 'selects' : 'select'} the etcd store, as for flanneld; drop one side`,
        );
      }
    }
    choice = { store, from: storeWhere };
  } else if (etcd.length > 0) {
    choice = { store: 'etcd', from: etcd[0]! };
  } else if (dirWhere !== null) {
    return { store: 'embedded', from: dirWhere };
  } else {
    return { store: 'embedded', from: 'default' };
  }
  if (choice.store === 'etcd' && dirWhere !== null) {
    throw new ConfigError(
      dirWhere,
      `applies to the embedded store only, but ${choice.from} selects the etcd store; drop one side`,
    );
  }
  return choice;
}

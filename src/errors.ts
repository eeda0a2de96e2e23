/**
 * Typed errors with stable codes.
 *
 * Design notes: errors are for the control path only (config, store, setup, CLI).
 * The packet path never throws: it counts a drop reason (see `src/encap/drop-reason.ts`).
 * Callers match on `code`, never on the message; codes are listed in docs/errors.md.
 */

/** WeftError is the base of every error weft throws on purpose; `code` is stable across releases. */
export class WeftError extends Error {
  /** Stable machine-readable code, `WEFT_ERR_*`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** ConfigError is a bad configuration value: names the field and the rule it broke. */
export class ConfigError extends WeftError {
  /** The offending field, e.g. `Backend.VNI` or `--iface`. */
  readonly field: string;
  /** The rule, in words, e.g. `must be an integer in 0..16777215`. */
  readonly rule: string;
  constructor(field: string, rule: string, detail?: string) {
    super('WEFT_ERR_CONFIG', `${field}: ${rule}${detail ? ` (${detail})` : ''}`);
    this.field = field;
    this.rule = rule;
  }
}

/**
 * FlagValueError is a command-line value that breaks its flag's rule (`--vni x`); like a
 * UsageError the CLI exits 2 for it, and like a ConfigError it names the flag and the rule.
 */
export class FlagValueError extends ConfigError {}

/** UsageError is a bad command line (unknown flag, missing argument). */
export class UsageError extends WeftError {
  constructor(message: string) {
    super('WEFT_ERR_USAGE', message);
  }
}

/** SystemError wraps a failed system call; `errno` is the name (`EPERM`, `EBUSY`, ...). */
export class SystemError extends WeftError {
  /** errno name as the kernel reported it, e.g. `EAGAIN`. */
  readonly errno: string;
  /** The system call or operation that failed, e.g. `TUNSETIFF`. */
  readonly syscall: string;
  constructor(syscall: string, errno: string, message?: string) {
    super('WEFT_ERR_SYSTEM', `${syscall} failed: ${errno}${message ? `: ${message}` : ''}`);
    this.errno = errno;
    this.syscall = syscall;
  }
}

/** StoreError is a failure talking to the lease store (etcd or embedded). */
export class StoreError extends WeftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WEFT_ERR_STORE', message, options);
  }
}

/** LeaseError is a lease that cannot be acquired or was lost. */
export class LeaseError extends WeftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WEFT_ERR_LEASE', message, options);
  }
}

/** FormatError is a malformed input file or frame on a control path (pcap file, hex on the CLI). */
export class FormatError extends WeftError {
  constructor(message: string) {
    super('WEFT_ERR_FORMAT', message);
  }
}

/**
 * FileError is a file or directory that cannot be read or written: names the path, what weft was
 * doing with it and why it failed (`cannot write /x/y.json: no such directory`).
 */
export class FileError extends WeftError {
  /** The path as the user gave it. */
  readonly path: string;
  /** errno name when the kernel refused (`ENOENT`, `EACCES`, ...), else ''. */
  readonly errno: string;
  constructor(path: string, message: string, errno = '') {
    super('WEFT_ERR_FILE', message);
    this.path = path;
    this.errno = errno;
  }
}

/** ToolMissingError names an external tool that is needed and the command that installs it. */
export class ToolMissingError extends WeftError {
  constructor(tool: string, install: string) {
    super('WEFT_ERR_TOOL_MISSING', `${tool} not found; install it with: ${install}`);
  }
}

/**
 * KubeApiError is a Kubernetes API server refusing a call (4xx other than 429): `status` is the
 * HTTP code, `reason` the Status reason (`Forbidden`, `NotFound`, `Gone`, ...). A 403 names the
 * verb and path that RBAC refused, so a ClusterRole missing a permission is obvious.
 */
export class KubeApiError extends WeftError {
  readonly status: number;
  readonly reason: string;
  readonly method: string;
  readonly path: string;
  constructor(method: string, path: string, status: number, reason: string, message: string) {
    super(
      status === 403 ? 'WEFT_ERR_KUBE_FORBIDDEN' : 'WEFT_ERR_KUBE_API',
      `kube-apiserver refused ${method} ${path}: ${status}${reason ? ` ${reason}` : ''}: ${message}`,
    );
    this.status = status;
    this.reason = reason;
    this.method = method;
    this.path = path;
  }
}

/**
 * CniError is a CNI plugin failure as the CNI spec reports it: `cniCode` is the spec's numeric code
 * (1 incompatible version, 4 bad environment, 6 undecodable config, 7 invalid config, 999 other),
 * printed with `msg` and `details` as the error JSON a runtime logs.
 */
export class CniError extends WeftError {
  /** The CNI spec's error code. */
  readonly cniCode: number;
  /** Extra context (the CNI error's `details`), e.g. a delegate plugin's original message. */
  readonly details: string;
  constructor(cniCode: number, message: string, details = '') {
    super('WEFT_ERR_CNI', message);
    this.cniCode = cniCode;
    this.details = details;
  }
}

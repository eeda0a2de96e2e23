/**
 * cleanup: how a lab undoes what it built. Everything a lab creates registers its undo in a
 * `Cleanup` (run in reverse order: processes stopped before their namespaces are deleted). The
 * process-wide `lastResort` registry is the safety net when the runner dies before the cleanup
 * runs: on exit it sends SIGKILL to every live process by PID and deletes every live namespace.
 * Nothing is ever killed by name.
 */
import { execFileSync } from 'node:child_process';

/** Cleanup collects undo actions and runs them in reverse order; errors are collected, not thrown early. */
export class Cleanup {
  private readonly actions: Array<{ what: string; fn: () => void | Promise<void> }> = [];
  private running: Promise<void> | null = null;

  /** `report` receives one message listing the actions that failed (default: stderr). */
  constructor(private readonly report: (msg: string) => void = (m) => process.stderr.write(`${m}\n`)) {}

  /** add registers an undo action. */
  add(what: string, fn: () => void | Promise<void>): void {
    this.actions.push({ what, fn });
  }

  /** run executes all actions in reverse registration order; later and concurrent calls share the one run. */
  run(): Promise<void> {
    this.running ??= this.runAll();
    return this.running;
  }

  private async runAll(): Promise<void> {
    const errors: string[] = [];
    for (const a of this.actions.splice(0).reverse()) {
      try {
        await a.fn();
      } catch (err) {
        errors.push(`${a.what}: ${(err as Error).message}`);
      }
    }
    if (errors.length > 0) this.report(`cleanup had errors:\n  ${errors.join('\n  ')}`);
  }
}

/** cleanupFor returns a Cleanup that runs when test context `t` finishes (pass or fail). */
export function cleanupFor(t: { after(fn: () => void | Promise<void>): void }): Cleanup {
  const c = new Cleanup();
  t.after(() => c.run());
  return c;
}

const livePids = new Set<number>();
const liveNamespaces = new Set<string>();
let hooked = false;

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAllNow);
}

/**
 * killAllNow sends SIGKILL by PID to every process still registered and deletes every namespace
 * still registered, synchronously (safe in an 'exit' handler).
 */
export function killAllNow(): void {
  for (const pid of livePids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  livePids.clear();
  for (const ns of liveNamespaces) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
  liveNamespaces.clear();
}

/** lastResort is the registry behind the exit hook; a lab unregisters what it removed or keeps. */
export const lastResort = {
  addPid(pid: number): void {
    hook();
    livePids.add(pid);
  },
  deletePid(pid: number): void {
    livePids.delete(pid);
  },
  addNamespace(name: string): void {
    hook();
    liveNamespaces.add(name);
  },
  deleteNamespace(name: string): void {
    liveNamespaces.delete(name);
  },
};

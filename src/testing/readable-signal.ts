/**
 * readable-signal: the "readable" callback of the in-memory fakes. Like an fd's readiness it fires
 * on a later turn of the event loop (never inside the write that queued the data) and keeps firing
 * while data is pending and a callback is set.
 */

/** ReadableSignal calls the registered callback on a later tick for as long as `pending()` holds. */
export class ReadableSignal {
  private cb: (() => void) | null = null;
  private scheduled = false;

  constructor(private readonly pending: () => boolean) {}

  /** set registers (or with null removes) the callback, and schedules it if data is pending. */
  set(cb: (() => void) | null): void {
    this.cb = cb;
    this.notify();
  }

  /** notify schedules the callback if one is set and data is pending (call after queueing data). */
  notify(): void {
    if (this.scheduled || this.cb === null || !this.pending()) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.cb !== null && this.pending()) {
        this.cb();
        this.notify();
      }
    });
  }
}

/**
 * kill-forwarding-thread: a `--require` preload for test/daemon/forwarding-thread.netns.test.ts.
 * In the main thread of `weft run` it keeps every Worker started, and on SIGUSR2 terminates the
 * first one (queue 0's forwarding thread, the only one at `--workers 1`), as an exception in that
 * thread would end it. Once the thread is gone it asks the node's own /readyz
 * (`KILL_FORWARDING_READYZ`, a URL) and prints `kill-forwarding-thread: readyz <status>` on stderr,
 * so that the test sees what the daemon answered between the thread's death and its exit. The
 * daemon's HTTP servers close a second later than they would (`Server.close` deferred), so that
 * the probe gets an answer however fast the shutdown is; nothing else changes.
 */
import http from 'node:http';
import wt from 'node:worker_threads';

if (wt.isMainThread) {
  const started: wt.Worker[] = [];
  const Original = wt.Worker;
  class Recorded extends Original {
    constructor(...args: ConstructorParameters<typeof Original>) {
      super(...args);
      started.push(this);
    }
  }
  (wt as { Worker: typeof Original }).Worker = Recorded;
  const close = http.Server.prototype.close;
  http.Server.prototype.close = function (this: http.Server, ...args: Parameters<typeof close>) {
    setTimeout(() => close.apply(this, args), 1000);
    return this;
  };
  process.on('SIGUSR2', () => {
    const w = started[0];
    if (w === undefined) return;
    w.once('exit', () => {
      const url = process.env.KILL_FORWARDING_READYZ;
      if (!url) return;
      http
        .get(url, (res) => {
          process.stderr.write(`kill-forwarding-thread: readyz ${res.statusCode}\n`);
          res.resume();
        })
        .on('error', (e) => process.stderr.write(`kill-forwarding-thread: readyz error ${e.message}\n`));
    });
    void w.terminate();
  });
}

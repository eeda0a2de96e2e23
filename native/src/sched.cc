// Scheduling of the calling thread: its policy (sched_setscheduler with pid 0 acts on the calling
// thread on Linux) and its own CPU time (CLOCK_THREAD_CPUTIME_ID). src/dataplane/thread-sched.ts
// decides when a forwarding thread runs SCHED_RR and when it falls back to SCHED_OTHER.
#include <sched.h>
#include <time.h>

#include <cerrno>

#include "common.h"

namespace weft {
namespace {

// threadSetScheduler(rr: boolean, priority: number): SCHED_RR at `priority` (with
// SCHED_RESET_ON_FORK, so a child never inherits it) or SCHED_OTHER. Returns null on success, the
// errno name (e.g. "EPERM") when the kernel refuses.
Napi::Value ThreadSetScheduler(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t prio = 0;
  if (!info[0].IsBoolean() || !GetI32(info[1], &prio))
    return ThrowArg(env, "threadSetScheduler(rr: boolean, priority: number)");
  bool rr = info[0].As<Napi::Boolean>().Value();
  struct sched_param p = {};
  p.sched_priority = rr ? prio : 0;
  int policy = (rr ? SCHED_RR : SCHED_OTHER) | SCHED_RESET_ON_FORK;
  if (sched_setscheduler(0, policy, &p) < 0) return Napi::String::New(env, ErrnoName(errno));
  return env.Null();
}

// threadCpuNs(): CPU time of the calling thread in nanoseconds.
Napi::Value ThreadCpuNs(const Napi::CallbackInfo& info) {
  struct timespec ts = {};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return Napi::Number::New(info.Env(), static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec));
}

// threadYield(): sched_yield() for the calling thread; returns nothing (it cannot fail on Linux).
Napi::Value ThreadYield(const Napi::CallbackInfo& info) {
  sched_yield();
  return info.Env().Undefined();
}

}  // namespace

void InitSched(Napi::Env env, Napi::Object exports) {
  ExportFns(env, exports, {WEFT_FN("threadSetScheduler", ThreadSetScheduler), WEFT_FN("threadCpuNs", ThreadCpuNs),
                             WEFT_FN("threadYield", ThreadYield)});
}

}  // namespace weft

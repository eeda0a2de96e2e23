// Readiness: one uv_poll_t per fd on Node's own event loop, calling a JS callback when the fd is
// readable (and, on request, writable). JS then drains with one batch call. Level-triggered: if JS
// leaves packets in the queue, the callback fires again on the next loop iteration.
//
// Lifetime: the PollHandle is shared by the JS External (finalizer) and libuv (close callback);
// it is freed when both have let go, so a stale External can never touch freed memory. A handle
// still open when its environment ends (a worker thread terminated or killed by an exception) is
// closed by an async cleanup hook: without it, node aborts the whole process on the worker's exit
// ("uv_loop_close() while having open handles").
#include <uv.h>

#include "common.h"

namespace weft {
namespace {

constexpr int kReadable = 1;
constexpr int kWritable = 2;

struct PollHandle {
  uv_poll_t poll;
  napi_env env;
  Napi::FunctionReference callback;
  napi_async_context async_context = nullptr;
  int refs = 2;  // External + libuv handle
  bool closed = false;
  // Registered at start, removed when the handle is closed (by pollClose or at teardown).
  napi_async_cleanup_hook_handle hook = nullptr;
  bool teardown = false;  // closed by the cleanup hook: the environment is going away
};

void Release(PollHandle* p) {
  if (--p->refs == 0) delete p;
}

int ToUvEvents(int events) {
  return ((events & kReadable) ? UV_READABLE : 0) | ((events & kWritable) ? UV_WRITABLE : 0);
}

void OnPoll(uv_poll_t* handle, int status, int events) {
  PollHandle* p = static_cast<PollHandle*>(handle->data);
  if (p->closed) return;
  Napi::Env env(p->env);
  Napi::HandleScope scope(env);
  int js_events = ((events & UV_READABLE) ? kReadable : 0) | ((events & UV_WRITABLE) ? kWritable : 0);
  napi_value argv[2] = {Napi::Number::New(env, status), Napi::Number::New(env, js_events)};
  napi_value result;
  napi_status s = napi_make_callback(p->env, p->async_context, env.Global(), p->callback.Value(), 2, argv, &result);
  if (s == napi_pending_exception || env.IsExceptionPending()) {
    // Nothing above us can catch it: hand it to process 'uncaughtException' like any callback.
    Napi::Error err = env.GetAndClearPendingException();
    napi_fatal_exception(p->env, err.Value());
  }
}

void OnClose(uv_handle_t* handle) {
  PollHandle* p = static_cast<PollHandle*>(handle->data);
  if (p->teardown) {
    // The environment is ending: no JS calls; its references go with it.
    napi_async_cleanup_hook_handle hook = p->hook;
    p->hook = nullptr;
    p->callback.SuppressDestruct();
    Release(p);
    if (hook != nullptr) napi_remove_async_cleanup_hook(hook);
    return;
  }
  {
    Napi::Env env(p->env);
    Napi::HandleScope scope(env);
    p->callback.Reset();
    if (p->async_context != nullptr) napi_async_destroy(p->env, p->async_context);
    p->async_context = nullptr;
  }
  Release(p);
}

void Finalize(Napi::Env, PollHandle* p) { Release(p); }

// The environment ends with the handle open: close it, and let node go on once libuv has.
void AsyncCleanup(napi_async_cleanup_hook_handle hook, void* arg) {
  PollHandle* p = static_cast<PollHandle*>(arg);
  p->hook = hook;
  p->teardown = true;
  p->closed = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), OnClose);
}

void RemoveHook(PollHandle* p) {
  if (p->hook != nullptr) napi_remove_async_cleanup_hook(p->hook);
  p->hook = nullptr;
}

PollHandle* Unwrap(const Napi::Value& v) {
  if (!v.IsExternal()) return nullptr;
  PollHandle* p = v.As<Napi::External<PollHandle>>().Data();
  return (p == nullptr || p->closed) ? nullptr : p;
}

// pollStart(fd, events: 1 readable | 2 writable, cb(status, events)) -> handle (External)
Napi::Value PollStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd, events;
  if (!GetI32(info[0], &fd) || !GetI32(info[1], &events) || !info[2].IsFunction()) {
    return ThrowArg(env, "pollStart(fd, events, callback)");
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    return ThrowErrno(env, "napi_get_uv_event_loop", EINVAL);
  }
  PollHandle* p = new PollHandle();
  p->env = env;
  int rc = uv_poll_init(loop, &p->poll, fd);
  if (rc < 0) {
    delete p;
    return ThrowErrno(env, "uv_poll_init", -rc);
  }
  p->poll.data = p;
  p->callback = Napi::Persistent(info[2].As<Napi::Function>());
  napi_value resource_name = Napi::String::New(env, "weft:poll");
  napi_async_init(env, Napi::Object::New(env), resource_name, &p->async_context);
  if (events != 0) {
    rc = uv_poll_start(&p->poll, ToUvEvents(events), OnPoll);
    if (rc < 0) {
      p->closed = true;
      p->refs = 1;  // no External was handed out
      uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), OnClose);
      return ThrowErrno(env, "uv_poll_start", -rc);
    }
  }
  napi_add_async_cleanup_hook(env, AsyncCleanup, p, &p->hook);
  return Napi::External<PollHandle>::New(env, p, Finalize);
}

// pollUpdate(handle, events) -> undefined; events 0 stops watching without closing.
Napi::Value PollUpdate(const Napi::CallbackInfo& info) {
  PollHandle* p = Unwrap(info[0]);
  int32_t events;
  if (p == nullptr || !GetI32(info[1], &events)) return ThrowArg(info.Env(), "pollUpdate(open handle, events)");
  int rc = events == 0 ? uv_poll_stop(&p->poll) : uv_poll_start(&p->poll, ToUvEvents(events), OnPoll);
  if (rc < 0) return ThrowErrno(info.Env(), "uv_poll_start", -rc);
  return info.Env().Undefined();
}

// pollRef(handle, ref: boolean): whether this handle keeps the event loop alive.
Napi::Value PollRef(const Napi::CallbackInfo& info) {
  PollHandle* p = Unwrap(info[0]);
  if (p == nullptr) return ThrowArg(info.Env(), "pollRef(open handle, ref)");
  if (info[1].ToBoolean().Value()) {
    uv_ref(reinterpret_cast<uv_handle_t*>(&p->poll));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(&p->poll));
  }
  return info.Env().Undefined();
}

// pollClose(handle): stops watching at once (uv_close removes the fd from epoll synchronously), so
// the caller may close(fd) right after. Idempotent.
Napi::Value PollClose(const Napi::CallbackInfo& info) {
  PollHandle* p = Unwrap(info[0]);
  if (p != nullptr) {
    p->closed = true;
    RemoveHook(p);
    uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), OnClose);
  }
  return info.Env().Undefined();
}

}  // namespace

void InitPoll(Napi::Env env, Napi::Object exports) {
  ExportFns(env, exports,
            {
                WEFT_FN("pollStart", PollStart),
                WEFT_FN("pollUpdate", PollUpdate),
                WEFT_FN("pollRef", PollRef),
                WEFT_FN("pollClose", PollClose),
            });
  exports.Set("POLL_READABLE", Napi::Number::New(env, kReadable));
  exports.Set("POLL_WRITABLE", Napi::Number::New(env, kWritable));
}

}  // namespace weft

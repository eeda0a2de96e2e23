// Errors, argument access, counter names and export tables of the addon.
#include "common.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace weft {

#define WEFT_SLOT_NAME(id, js) #js,
const char* const kCounterNames[kCounterCount] = {WEFT_IO_COUNTERS(WEFT_SLOT_NAME)};
const char* const kGsoStateNames[kGsoStateCount] = {WEFT_GSO_STATE(WEFT_SLOT_NAME)};
#undef WEFT_SLOT_NAME

const char* ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "UNKNOWN";
}

Napi::Value ThrowErrno(Napi::Env env, const char* syscall, int err, const char* detail) {
  char message[256];
  if (detail != nullptr) {
    snprintf(message, sizeof message, "%s %s: %s (%s)", syscall, ErrnoName(err), strerror(err), detail);
  } else {
    snprintf(message, sizeof message, "%s %s: %s", syscall, ErrnoName(err), strerror(err));
  }
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowArg(Napi::Env env, const char* message) {
  Napi::TypeError e = Napi::TypeError::New(env, message);
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_VALUE"));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

bool GetCounters(const Napi::Value& v, double** counters) {
  size_t n = 0;
  if (!GetTyped<double>(v, napi_float64_array, counters, &n)) return false;
  return n >= kCounterCount;
}

bool GetGsoState(const Napi::Value& v, double** state) {
  if (v.IsUndefined() || v.IsNull()) {
    *state = nullptr;
    return true;
  }
  size_t n = 0;
  if (!GetTyped<double>(v, napi_float64_array, state, &n)) return false;
  return n >= kGsoStateCount;
}

bool GetU32(const Napi::Value& v, uint32_t* out) {
  return napi_get_value_uint32(v.Env(), v, out) == napi_ok;
}

bool GetI32(const Napi::Value& v, int32_t* out) {
  return napi_get_value_int32(v.Env(), v, out) == napi_ok;
}

int GetIntOpt(int fd, int level, int name) {
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, level, name, &v, &len) < 0) return -1;
  return v;
}

void SetBufferSize(int fd, int opt, int force_opt, int bytes) {
  if (bytes <= 0) return;
  setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
  // The kernel stores twice the request, capped at net.core.{r,w}mem_max * 2.
  if (static_cast<long>(GetIntOpt(fd, SOL_SOCKET, opt)) < 2L * bytes) {
    setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes);
  }
}

void ExportFns(Napi::Env env, Napi::Object exports, std::initializer_list<FnExport> fns) {
  for (const FnExport& f : fns) exports.Set(f.name, Napi::Function::New(env, f.fn, f.name));
}

Napi::Object ConstTable(Napi::Env env, std::initializer_list<ConstExport> consts) {
  Napi::Object o = Napi::Object::New(env);
  for (const ConstExport& c : consts) o.Set(c.name, Napi::Number::New(env, c.value));
  return o;
}

}  // namespace weft

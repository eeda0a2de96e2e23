// Errors, argument access and counter names shared by the addon's modules.
#include "common.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace weft {

const char* const kCounterNames[kCounterCount] = {
    "rxPackets", "rxBytes",  "rxSyscalls", "rxEagain", "rxErrors", "rxTruncated",
    "rxDropped", "txPackets", "txBytes",  "txSyscalls", "txEagain", "txErrors", "lastErrno",
};

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

bool GetU32(const Napi::Value& v, uint32_t* out) {
  return napi_get_value_uint32(v.Env(), v, out) == napi_ok;
}

bool GetI32(const Napi::Value& v, int32_t* out) {
  return napi_get_value_int32(v.Env(), v, out) == napi_ok;
}

}  // namespace weft

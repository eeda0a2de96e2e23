// weft_native: registration and constant exports only; the system calls live in tun.cc, udp.cc,
// poll.cc, netif.cc, offload.cc, raw.cc, bpf.cc and uring.cc. See docs/native-boundary.md for the contract with src/io/.
#include <napi.h>

#include "common.h"

namespace {

// Bumped whenever an export's signature or the counter layout changes; src/io/binding.ts checks it.
constexpr uint32_t kAbiVersion = 4;

Napi::Value ErrnoNameJs(const Napi::CallbackInfo& info) {
  int32_t err = 0;
  if (!weft::GetI32(info[0], &err)) return weft::ThrowArg(info.Env(), "errnoName(errno: number)");
  return Napi::String::New(info.Env(), weft::ErrnoName(err));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, kAbiVersion));
  Napi::Array names = Napi::Array::New(env, weft::kCounterCount);
  for (uint32_t i = 0; i < weft::kCounterCount; i++) names.Set(i, Napi::String::New(env, weft::kCounterNames[i]));
  exports.Set("counterNames", names);
  exports.Set("errnoName", Napi::Function::New(env, ErrnoNameJs, "errnoName"));
  weft::InitTun(env, exports);
  weft::InitUdp(env, exports);
  weft::InitPoll(env, exports);
  weft::InitNetif(env, exports);
  weft::InitOffload(env, exports);
  weft::InitRaw(env, exports);
  weft::InitBpf(env, exports);
  weft::InitUring(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(weft_native, Init)

// weft_native: registration only. The batch shape and the sendmmsg/recvmmsg loops live in batch.cc;
// the system calls in tun.cc, udp.cc, raw.cc, poll.cc, netif.cc, bpf.cc and uring.cc (io_uring TUN
// batches), sched.cc (a forwarding thread's scheduling policy and CPU time), netlink.cc (rtnetlink
// sockets for route programming); csum.cc is the one pass over packet bytes. See
// docs/native-boundary.md for the contract with src/io/.
#include <napi.h>

#include "common.h"

namespace {

// Bumped whenever an export's signature or a counter layout changes; src/io/binding.ts checks it.
constexpr uint32_t kAbiVersion = 5;

Napi::Value ErrnoNameJs(const Napi::CallbackInfo& info) {
  int32_t err = 0;
  if (!weft::GetI32(info[0], &err)) return weft::ThrowArg(info.Env(), "errnoName(errno: number)");
  return Napi::String::New(info.Env(), weft::ErrnoName(err));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, kAbiVersion));
  weft::ExportFns(env, exports, {WEFT_FN("errnoName", ErrnoNameJs)});
  weft::InitBatch(env, exports);
  weft::InitTun(env, exports);
  weft::InitUdp(env, exports);
  weft::InitRaw(env, exports);
  weft::InitPoll(env, exports);
  weft::InitNetif(env, exports);
  weft::InitCsum(env, exports);
  weft::InitBpf(env, exports);
  weft::InitUring(env, exports);
  weft::InitSched(env, exports);
  weft::InitNetlink(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(weft_native, Init)

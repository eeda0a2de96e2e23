// Send-only raw IPv4 socket for `--src-port flow`: TypeScript writes the whole outer IPv4 + UDP
// header (flow-hashed source port), so the kernel must not add its own.
//
// socket(AF_INET, SOCK_RAW, IPPROTO_RAW) implies IP_HDRINCL and never receives (raw(7)); the
// kernel still fills in the IPv4 checksum (and the ID when it is 0). Receive stays on the bound
// UDP socket. Needs CAP_NET_RAW: without it socket() fails with EPERM, thrown as a SystemError.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "batch.h"

namespace weft {
namespace {

// rawOpen(sndBuf) -> { fd, sndBuf }
Napi::Value RawOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t sndbuf;
  if (!GetI32(info[0], &sndbuf)) return ThrowArg(env, "rawOpen(sndBuf)");
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd < 0) return ThrowErrno(env, "socket", errno, "AF_INET SOCK_RAW IPPROTO_RAW");
  SetBufferSize(fd, SO_SNDBUF, SO_SNDBUFFORCE, sndbuf);
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("sndBuf", Napi::Number::New(env, GetIntOpt(fd, SOL_SOCKET, SO_SNDBUF)));
  return out;
}

// rawSend(fd, batch, start, end, counters) -> next index
// Descriptor k is a complete IPv4 datagram sent to addrs[k] (the kernel routes on it; it should
// equal the header's destination); the port lives in the header TypeScript wrote. Same loop and
// semantics as udpSend without GSO.
Napi::Value RawSend(const Napi::CallbackInfo& info) {
  BatchCall call;
  if (!ParseBatchCall(info, "rawSend(fd, batch, start, end, counters)", &call)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), SendBatch(call.fd, call.b, call.start, call.end, false, call.c, nullptr));
}

}  // namespace

void InitRaw(Napi::Env env, Napi::Object exports) {
  ExportFns(env, exports, {WEFT_FN("rawOpen", RawOpen), WEFT_FN("rawSend", RawSend)});
}

}  // namespace weft

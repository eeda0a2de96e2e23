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

#include "common.h"

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

// rawSend(fd, buf, offsets, lengths, addrs, start, end, counters) -> next index
// Packet k is a complete IPv4 datagram at buf[offsets[k], +lengths[k]) sent to addrs[k] (the
// kernel routes on it; it should equal the header's destination). Same semantics as udpSend:
// failures counted in txErrors and skipped, partial sendmmsg retried, EAGAIN returns the first
// unattempted index.
Napi::Value RawSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  uint32_t start, end;
  uint8_t* buf;
  uint32_t *offsets, *lengths, *addrs;
  size_t buf_len, n_off, n_len, n_addr;
  double* c;
  if (!GetI32(info[0], &fd) || !GetTyped(info[1], napi_uint8_array, &buf, &buf_len) ||
      !GetTyped(info[2], napi_uint32_array, &offsets, &n_off) ||
      !GetTyped(info[3], napi_uint32_array, &lengths, &n_len) ||
      !GetTyped(info[4], napi_uint32_array, &addrs, &n_addr) || !GetU32(info[5], &start) ||
      !GetU32(info[6], &end) || !GetCounters(info[7], &c)) {
    return ThrowArg(env, "rawSend(fd, buf, offsets, lengths, addrs, start, end, counters)");
  }
  if (end > n_off || end > n_len || end > n_addr) return ThrowArg(env, "rawSend: end exceeds descriptor arrays");
  // The port lives in the header TypeScript wrote; the kernel routes on the address alone.
  return Napi::Number::New(env, SendBatch(fd, buf, buf_len, offsets, lengths, addrs, nullptr, start, end, c));
}

}  // namespace

void InitRaw(Napi::Env env, Napi::Object exports) {
  exports.Set("rawOpen", Napi::Function::New(env, RawOpen, "rawOpen"));
  exports.Set("rawSend", Napi::Function::New(env, RawSend, "rawSend"));
}

}  // namespace weft

// UDP sockets owned by the addon: socket/bind/buffer sizes, and the batch calls (whose recvmmsg and
// sendmmsg loops live in batch.cc).
//
// The addon owns the fd (not libuv's uv_udp_t) so that it can add UDP_SEGMENT cmsgs on send and
// read UDP_GRO cmsgs on receive (batch.cc); udpSetOpt/udpGetOpt reach those socket options.
#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "batch.h"

namespace weft {
namespace {

// udpOpen(ip: string, port, reuseAddr: boolean, reusePort: boolean, rcvBuf, sndBuf)
//   -> { fd, address, port, rcvBuf, sndBuf }
Napi::Value UdpOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t port;
  int32_t rcvbuf, sndbuf;
  if (!info[0].IsString() || !GetU32(info[1], &port) || port > 65535 || !GetI32(info[4], &rcvbuf) ||
      !GetI32(info[5], &sndbuf)) {
    return ThrowArg(env, "udpOpen(ip, port, reuseAddr, reusePort, rcvBuf, sndBuf)");
  }
  std::string ip = info[0].As<Napi::String>().Utf8Value();
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &sa.sin_addr) != 1) return ThrowErrno(env, "inet_pton", EINVAL, ip.c_str());

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, "socket", errno);
  int one = 1;
  if (info[2].ToBoolean().Value() && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "setsockopt", err, "SO_REUSEADDR");
  }
  if (info[3].ToBoolean().Value() && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "setsockopt", err, "SO_REUSEPORT");
  }
  SetBufferSize(fd, SO_RCVBUF, SO_RCVBUFFORCE, rcvbuf);
  SetBufferSize(fd, SO_SNDBUF, SO_SNDBUFFORCE, sndbuf);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) < 0) {
    int err = errno;
    close(fd);
    char where[64];
    snprintf(where, sizeof where, "%s:%u", ip.c_str(), port);
    return ThrowErrno(env, "bind", err, where);
  }
  socklen_t salen = sizeof sa;
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&sa), &salen) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "getsockname", err);
  }
  char addr[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &sa.sin_addr, addr, sizeof addr);
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("address", Napi::String::New(env, addr));
  out.Set("port", Napi::Number::New(env, ntohs(sa.sin_port)));
  out.Set("rcvBuf", Napi::Number::New(env, GetIntOpt(fd, SOL_SOCKET, SO_RCVBUF)));
  out.Set("sndBuf", Napi::Number::New(env, GetIntOpt(fd, SOL_SOCKET, SO_SNDBUF)));
  return out;
}

// udpSetOpt(fd, level, name, value: int) -> undefined. Sets UDP_SEGMENT / UDP_GRO among others.
Napi::Value UdpSetOpt(const Napi::CallbackInfo& info) {
  int32_t fd, level, name, value;
  if (!GetI32(info[0], &fd) || !GetI32(info[1], &level) || !GetI32(info[2], &name) || !GetI32(info[3], &value)) {
    return ThrowArg(info.Env(), "udpSetOpt(fd, level, name, value)");
  }
  int v = value;
  if (setsockopt(fd, level, name, &v, sizeof v) < 0) return ThrowErrno(info.Env(), "setsockopt", errno);
  return info.Env().Undefined();
}

// udpAttachReuseportCbpf(fd, prog: Uint8Array) -> undefined. `prog` is an array of struct
// sock_filter (8 bytes each, host order) built in TypeScript (src/io/reuseport-bpf.ts); the addon
// only hands it to SO_ATTACH_REUSEPORT_CBPF, which applies it to the socket's whole reuseport group.
Napi::Value UdpAttachReuseportCbpf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!GetI32(info[0], &fd) || !info[1].IsTypedArray()) {
    return ThrowArg(env, "udpAttachReuseportCbpf(fd, prog: Uint8Array)");
  }
  Napi::Uint8Array prog = info[1].As<Napi::Uint8Array>();
  const size_t len = prog.ByteLength();
  if (len == 0 || len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > BPF_MAXINSNS) {
    return ThrowArg(env, "udpAttachReuseportCbpf: prog must be 1..4096 sock_filter structs");
  }
  struct sock_fprog fprog;
  fprog.len = static_cast<unsigned short>(len / sizeof(struct sock_filter));
  fprog.filter = reinterpret_cast<struct sock_filter*>(prog.Data());
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fprog, sizeof fprog) < 0) {
    return ThrowErrno(env, "setsockopt", errno, "SO_ATTACH_REUSEPORT_CBPF");
  }
  return env.Undefined();
}

// udpGetOpt(fd, level, name) -> int
Napi::Value UdpGetOpt(const Napi::CallbackInfo& info) {
  int32_t fd, level, name;
  if (!GetI32(info[0], &fd) || !GetI32(info[1], &level) || !GetI32(info[2], &name)) {
    return ThrowArg(info.Env(), "udpGetOpt(fd, level, name)");
  }
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, level, name, &v, &len) < 0) return ThrowErrno(info.Env(), "getsockopt", errno);
  return Napi::Number::New(info.Env(), v);
}

// udpRecv(fd, batch, start, end, counters[, gsoState]) -> descriptors written from start
// recvmmsg into slots [start, end); with gsoState, GRO trains are split into one descriptor per
// segment (see RecvBatch in batch.cc).
Napi::Value UdpRecv(const Napi::CallbackInfo& info) {
  BatchCall call;
  double* st;
  if (!ParseBatchCall(info, "udpRecv(fd, batch, start, end, counters[, gsoState])", &call)) return info.Env().Undefined();
  if (!GetGsoState(call.extra, &st) || !RecvGeometryOk(call.b, call.end)) {
    return ThrowArg(info.Env(), "udpRecv: gsoState or batch geometry does not fit");
  }
  return Napi::Number::New(info.Env(), RecvBatch(call.fd, call.b, call.start, call.end, call.c, st));
}

// udpSend(fd, batch, start, end, counters[, gsoState]) -> next index
// sendmmsg of descriptors [start, end) to addrs[i]:ports[i]; with gsoState, gsoSizes[i] > 0 makes
// descriptor i one UDP_SEGMENT train (see SendBatch in batch.cc).
Napi::Value UdpSend(const Napi::CallbackInfo& info) {
  BatchCall call;
  double* st;
  if (!ParseBatchCall(info, "udpSend(fd, batch, start, end, counters[, gsoState])", &call)) return info.Env().Undefined();
  if (!GetGsoState(call.extra, &st)) return ThrowArg(info.Env(), "udpSend: gsoState must be a Float64Array");
  return Napi::Number::New(info.Env(), SendBatch(call.fd, call.b, call.start, call.end, true, call.c, st));
}

// closeFd(fd) -> undefined. The caller must have closed any poll handle on fd first.
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int32_t fd;
  if (!GetI32(info[0], &fd)) return ThrowArg(info.Env(), "closeFd(fd)");
  // Linux releases the fd even when close() reports EINTR; never retry.
  if (close(fd) < 0 && errno != EINTR) return ThrowErrno(info.Env(), "close", errno);
  return info.Env().Undefined();
}

}  // namespace

void InitUdp(Napi::Env env, Napi::Object exports) {
  ExportFns(env, exports,
            {
                WEFT_FN("udpOpen", UdpOpen),
                WEFT_FN("udpSetOpt", UdpSetOpt),
                WEFT_FN("udpGetOpt", UdpGetOpt),
                WEFT_FN("udpAttachReuseportCbpf", UdpAttachReuseportCbpf),
                WEFT_FN("udpRecv", UdpRecv),
                WEFT_FN("udpSend", UdpSend),
                WEFT_FN("closeFd", CloseFd),
            });
  exports.Set("udpConstants", ConstTable(env, {
                                                  WEFT_CONST(SOL_SOCKET),
                                                  WEFT_CONST(SOL_UDP),
                                                  WEFT_CONST(SO_RCVBUF),
                                                  WEFT_CONST(SO_SNDBUF),
                                                  WEFT_CONST(SO_REUSEADDR),
                                                  WEFT_CONST(SO_REUSEPORT),
                                                  WEFT_CONST(UDP_SEGMENT),
                                                  WEFT_CONST(UDP_GRO),
                                              }));
}

}  // namespace weft

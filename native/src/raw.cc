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

constexpr uint32_t kRawChunk = 256;

// rawOpen(sndBuf) -> { fd, sndBuf }
Napi::Value RawOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t sndbuf;
  if (!GetI32(info[0], &sndbuf)) return ThrowArg(env, "rawOpen(sndBuf)");
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd < 0) return ThrowErrno(env, "socket", errno, "AF_INET SOCK_RAW IPPROTO_RAW");
  if (sndbuf > 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    int v = 0;
    socklen_t len = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &len) == 0 && static_cast<long>(v) < 2L * sndbuf) {
      setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);
    }
  }
  int v = 0;
  socklen_t len = sizeof v;
  getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &len);
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("sndBuf", Napi::Number::New(env, v));
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
  struct mmsghdr msgs[kRawChunk];
  struct iovec iov[kRawChunk];
  struct sockaddr_in to[kRawChunk];
  uint32_t index_of[kRawChunk];
  uint32_t i = start;
  while (i < end) {
    uint32_t n = 0;
    for (; i < end && n < kRawChunk; i++) {
      size_t off = offsets[i], len = lengths[i];
      if (off > buf_len || len > buf_len - off) {
        c[kTxErrors]++;
        c[kLastErrno] = EINVAL;
        continue;
      }
      iov[n].iov_base = buf + off;
      iov[n].iov_len = len;
      memset(&to[n], 0, sizeof to[n]);
      to[n].sin_family = AF_INET;
      to[n].sin_addr.s_addr = htonl(addrs[i]);
      memset(&msgs[n].msg_hdr, 0, sizeof msgs[n].msg_hdr);
      msgs[n].msg_hdr.msg_iov = &iov[n];
      msgs[n].msg_hdr.msg_iovlen = 1;
      msgs[n].msg_hdr.msg_name = &to[n];
      msgs[n].msg_hdr.msg_namelen = sizeof to[n];
      msgs[n].msg_len = 0;
      index_of[n] = i;
      n++;
    }
    uint32_t k = 0;
    while (k < n) {
      int sent = sendmmsg(fd, msgs + k, n - k, MSG_DONTWAIT);
      c[kTxSyscalls]++;
      if (sent < 0) {
        int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
          c[kTxEagain]++;
          return Napi::Number::New(env, index_of[k]);
        }
        c[kTxErrors]++;
        c[kLastErrno] = err;
        k++;
        continue;
      }
      for (int j = 0; j < sent; j++) {
        c[kTxPackets]++;
        c[kTxBytes] += msgs[k + j].msg_len;
      }
      k += static_cast<uint32_t>(sent);
    }
  }
  return Napi::Number::New(env, end > start ? end : start);
}

}  // namespace

void InitRaw(Napi::Env env, Napi::Object exports) {
  exports.Set("rawOpen", Napi::Function::New(env, RawOpen, "rawOpen"));
  exports.Set("rawSend", Napi::Function::New(env, RawSend, "rawSend"));
}

}  // namespace weft

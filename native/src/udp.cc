// UDP sockets owned by the addon: socket/bind/buffer sizes, recvmmsg and sendmmsg batches.
//
// The addon owns the fd (not libuv's uv_udp_t) so that it can add UDP_SEGMENT cmsgs on send and
// read UDP_GRO cmsgs on receive (offload.cc); udpSetOpt/udpGetOpt reach those socket options.
#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common.h"

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

// udpRecv(fd, buf, offsets, lengths, addrs, ports, max, slotSize, headroom, counters) -> count
// Datagram k lands in slot k at k*slotSize + headroom; truncated datagrams (MSG_TRUNC) are dropped
// and counted, so descriptors are compacted and offsets[] says where each packet is.
Napi::Value UdpRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  uint32_t max, slot, headroom;
  uint8_t* buf;
  uint32_t *offsets, *lengths, *addrs;
  uint16_t* ports;
  size_t buf_len, n_off, n_len, n_addr, n_port;
  double* c;
  if (!GetI32(info[0], &fd) || !GetTyped(info[1], napi_uint8_array, &buf, &buf_len) ||
      !GetTyped(info[2], napi_uint32_array, &offsets, &n_off) ||
      !GetTyped(info[3], napi_uint32_array, &lengths, &n_len) ||
      !GetTyped(info[4], napi_uint32_array, &addrs, &n_addr) ||
      !GetTyped(info[5], napi_uint16_array, &ports, &n_port) || !GetU32(info[6], &max) ||
      !GetU32(info[7], &slot) || !GetU32(info[8], &headroom) || !GetCounters(info[9], &c)) {
    return ThrowArg(env, "udpRecv(fd, buf, offsets, lengths, addrs, ports, max, slotSize, headroom, counters)");
  }
  if (headroom >= slot || static_cast<size_t>(max) * slot > buf_len || max > n_off || max > n_len ||
      max > n_addr || max > n_port) {
    return ThrowArg(env, "udpRecv: batch geometry does not fit its buffer or descriptor arrays");
  }
  struct mmsghdr msgs[kMmsgChunk];
  struct iovec iov[kMmsgChunk];
  struct sockaddr_in from[kMmsgChunk];
  const size_t cap = slot - headroom;
  uint32_t slot_index = 0;  // next free slot
  uint32_t count = 0;       // descriptors filled
  while (slot_index < max) {
    uint32_t want = max - slot_index;
    if (want > kMmsgChunk) want = kMmsgChunk;
    for (uint32_t k = 0; k < want; k++) {
      PrepareMsg(&msgs[k], &iov[k], &from[k], buf + static_cast<size_t>(slot_index + k) * slot + headroom, cap);
    }
    int got = recvmmsg(fd, msgs, want, MSG_DONTWAIT, nullptr);
    c[kRxSyscalls]++;
    if (got < 0) {
      if (errno == EINTR) continue;
      CountRxFailure(c, errno);
      break;
    }
    for (int k = 0; k < got; k++) {
      if (msgs[k].msg_hdr.msg_flags & MSG_TRUNC) {
        c[kRxTruncated]++;
        continue;
      }
      offsets[count] = static_cast<uint32_t>(static_cast<size_t>(slot_index + k) * slot + headroom);
      lengths[count] = msgs[k].msg_len;
      addrs[count] = ntohl(from[k].sin_addr.s_addr);
      ports[count] = ntohs(from[k].sin_port);
      c[kRxPackets]++;
      c[kRxBytes] += msgs[k].msg_len;
      count++;
    }
    slot_index += static_cast<uint32_t>(got);
    // A short batch means the receive queue is empty; skip the extra call that would say EAGAIN.
    if (static_cast<uint32_t>(got) < want) break;
  }
  return Napi::Number::New(env, count);
}

// udpSend(fd, buf, offsets, lengths, addrs, ports, start, end, counters) -> next index
// Sends packets [start, end) to addrs[i]:ports[i] with sendmmsg. A packet the kernel refuses (or
// whose descriptor lies outside buf) is counted in txErrors and skipped; a partial sendmmsg is
// retried from the first unsent packet. On EAGAIN it stops and returns the index of the first
// packet not yet attempted, so the caller can wait for writability or drop the rest.
Napi::Value UdpSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  uint32_t start, end;
  uint8_t* buf;
  uint32_t *offsets, *lengths, *addrs;
  uint16_t* ports;
  size_t buf_len, n_off, n_len, n_addr, n_port;
  double* c;
  if (!GetI32(info[0], &fd) || !GetTyped(info[1], napi_uint8_array, &buf, &buf_len) ||
      !GetTyped(info[2], napi_uint32_array, &offsets, &n_off) ||
      !GetTyped(info[3], napi_uint32_array, &lengths, &n_len) ||
      !GetTyped(info[4], napi_uint32_array, &addrs, &n_addr) ||
      !GetTyped(info[5], napi_uint16_array, &ports, &n_port) || !GetU32(info[6], &start) ||
      !GetU32(info[7], &end) || !GetCounters(info[8], &c)) {
    return ThrowArg(env, "udpSend(fd, buf, offsets, lengths, addrs, ports, start, end, counters)");
  }
  if (end > n_off || end > n_len || end > n_addr || end > n_port) {
    return ThrowArg(env, "udpSend: end exceeds descriptor arrays");
  }
  return Napi::Number::New(env, SendBatch(fd, buf, buf_len, offsets, lengths, addrs, ports, start, end, c));
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
  exports.Set("udpOpen", Napi::Function::New(env, UdpOpen, "udpOpen"));
  exports.Set("udpSetOpt", Napi::Function::New(env, UdpSetOpt, "udpSetOpt"));
  exports.Set("udpGetOpt", Napi::Function::New(env, UdpGetOpt, "udpGetOpt"));
  exports.Set("udpAttachReuseportCbpf", Napi::Function::New(env, UdpAttachReuseportCbpf, "udpAttachReuseportCbpf"));
  exports.Set("udpRecv", Napi::Function::New(env, UdpRecv, "udpRecv"));
  exports.Set("udpSend", Napi::Function::New(env, UdpSend, "udpSend"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));

  Napi::Object k = Napi::Object::New(env);
  k.Set("SOL_SOCKET", Napi::Number::New(env, SOL_SOCKET));
  k.Set("SOL_UDP", Napi::Number::New(env, SOL_UDP));
  k.Set("SO_RCVBUF", Napi::Number::New(env, SO_RCVBUF));
  k.Set("SO_SNDBUF", Napi::Number::New(env, SO_SNDBUF));
  k.Set("SO_REUSEADDR", Napi::Number::New(env, SO_REUSEADDR));
  k.Set("SO_REUSEPORT", Napi::Number::New(env, SO_REUSEPORT));
  k.Set("UDP_SEGMENT", Napi::Number::New(env, UDP_SEGMENT));
  k.Set("UDP_GRO", Napi::Number::New(env, UDP_GRO));
  k.Set("MMSG_CHUNK", Napi::Number::New(env, kMmsgChunk));
  exports.Set("udpConstants", k);
}

}  // namespace weft

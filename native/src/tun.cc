// TUN device: open with TUNSETIFF, offload/vnet-header ioctls, batched read() and write().
//
// There is no recvmmsg for TUN fds: a batch is a loop of read()s until EAGAIN or the batch is
// full, in one JS->native call. With IFF_VNET_HDR every read/write carries a virtio_net_hdr in
// front of the packet; the caller accounts for it in its headroom.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>

#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common.h"

// Debian 12's linux-libc-dev (6.1) lacks the UDP segmentation offload bits (kernel >= 6.2).
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

namespace weft {
namespace {

// sizeof(struct virtio_net_hdr); <linux/virtio_net.h> does not compile as C++ on Debian 12.
constexpr int kVirtioNetHdrLen = 10;

// tunOpen(name: string, vnetHdr: boolean, multiQueue: boolean) -> { fd, name }
Napi::Value TunOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return ThrowArg(env, "tunOpen(name: string, vnetHdr, multiQueue)");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  bool vnet = info[1].ToBoolean().Value();
  bool mq = info[2].ToBoolean().Value();
  if (name.size() >= IFNAMSIZ) return ThrowErrno(env, "TUNSETIFF", ENAMETOOLONG, name.c_str());

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, "open", errno, "/dev/net/tun");

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (vnet) ifr.ifr_flags |= IFF_VNET_HDR;
  if (mq) ifr.ifr_flags |= IFF_MULTI_QUEUE;
  memcpy(ifr.ifr_name, name.data(), name.size());
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "TUNSETIFF", err, name.c_str());
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  out.Set("name", Napi::String::New(env, ifr.ifr_name));
  return out;
}

// tunSetOffload(fd, flags: TUN_F_*) -> undefined
Napi::Value TunSetOffload(const Napi::CallbackInfo& info) {
  int32_t fd;
  uint32_t flags;
  if (!GetI32(info[0], &fd) || !GetU32(info[1], &flags)) return ThrowArg(info.Env(), "tunSetOffload(fd, flags)");
  if (ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(flags)) < 0) {
    return ThrowErrno(info.Env(), "TUNSETOFFLOAD", errno);
  }
  return info.Env().Undefined();
}

// tunSetVnetHdrSz(fd, size) -> undefined
Napi::Value TunSetVnetHdrSz(const Napi::CallbackInfo& info) {
  int32_t fd, size;
  if (!GetI32(info[0], &fd) || !GetI32(info[1], &size)) return ThrowArg(info.Env(), "tunSetVnetHdrSz(fd, size)");
  int sz = size;
  if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) return ThrowErrno(info.Env(), "TUNSETVNETHDRSZ", errno);
  return info.Env().Undefined();
}

// tunGetFeatures(fd) -> IFF_* flags the driver supports
Napi::Value TunGetFeatures(const Napi::CallbackInfo& info) {
  int32_t fd;
  if (!GetI32(info[0], &fd)) return ThrowArg(info.Env(), "tunGetFeatures(fd)");
  unsigned int features = 0;
  if (ioctl(fd, TUNGETFEATURES, &features) < 0) return ThrowErrno(info.Env(), "TUNGETFEATURES", errno);
  return Napi::Number::New(info.Env(), features);
}

// tunSetQueue(fd, attach: boolean) -> undefined (multi-queue devices only)
Napi::Value TunSetQueue(const Napi::CallbackInfo& info) {
  int32_t fd;
  if (!GetI32(info[0], &fd)) return ThrowArg(info.Env(), "tunSetQueue(fd, attach)");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = info[1].ToBoolean().Value() ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
  if (ioctl(fd, TUNSETQUEUE, &ifr) < 0) return ThrowErrno(info.Env(), "TUNSETQUEUE", errno);
  return info.Env().Undefined();
}

// tunRead(fd, buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, max, slotSize, headroom,
//         counters: Float64Array) -> count
// Packet k lands at k*slotSize + headroom (capacity slotSize - headroom). A packet larger than its
// slot is counted as truncated and dropped (its slot is reused).
Napi::Value TunRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  uint32_t max, slot, headroom;
  uint8_t* buf;
  uint32_t *offsets, *lengths;
  size_t buf_len, n_off, n_len;
  double* c;
  if (!GetI32(info[0], &fd) || !GetTyped(info[1], napi_uint8_array, &buf, &buf_len) ||
      !GetTyped(info[2], napi_uint32_array, &offsets, &n_off) ||
      !GetTyped(info[3], napi_uint32_array, &lengths, &n_len) || !GetU32(info[4], &max) ||
      !GetU32(info[5], &slot) || !GetU32(info[6], &headroom) || !GetCounters(info[7], &c)) {
    return ThrowArg(env, "tunRead(fd, buf, offsets, lengths, max, slotSize, headroom, counters)");
  }
  if (headroom >= slot || static_cast<size_t>(max) * slot > buf_len || max > n_off || max > n_len) {
    return ThrowArg(env, "tunRead: batch geometry does not fit its buffer or descriptor arrays");
  }
  const size_t cap = slot - headroom;
  uint8_t overflow[64];
  uint32_t count = 0;
  while (count < max) {
    size_t off = static_cast<size_t>(count) * slot + headroom;
    // The second iovec catches the overflow: TUN reads silently truncate to the buffer given.
    struct iovec iov[2] = {{buf + off, cap}, {overflow, sizeof overflow}};
    ssize_t n = readv(fd, iov, 2);
    c[kRxSyscalls]++;
    if (n < 0) {
      if (errno == EINTR) continue;
      CountRxFailure(c, errno);
      break;
    }
    if (static_cast<size_t>(n) > cap) {
      c[kRxTruncated]++;
      continue;
    }
    offsets[count] = static_cast<uint32_t>(off);
    lengths[count] = static_cast<uint32_t>(n);
    c[kRxPackets]++;
    c[kRxBytes] += static_cast<double>(n);
    count++;
  }
  return Napi::Number::New(env, count);
}

// tunWrite(fd, buf, offsets, lengths, start, end, counters[, status]) -> packets written
// Each packet is one write(); EAGAIN or an error drops that packet (counted) and moves on. With
// `status` (a Uint8Array), status[i] is set to 1 for a packet the kernel took and 0 otherwise, so
// the caller can account for exactly the packets refused.
Napi::Value TunWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  uint32_t start, end;
  uint8_t* buf;
  uint32_t *offsets, *lengths;
  size_t buf_len, n_off, n_len;
  double* c;
  if (!GetI32(info[0], &fd) || !GetTyped(info[1], napi_uint8_array, &buf, &buf_len) ||
      !GetTyped(info[2], napi_uint32_array, &offsets, &n_off) ||
      !GetTyped(info[3], napi_uint32_array, &lengths, &n_len) || !GetU32(info[4], &start) ||
      !GetU32(info[5], &end) || !GetCounters(info[6], &c)) {
    return ThrowArg(env, "tunWrite(fd, buf, offsets, lengths, start, end, counters)");
  }
  if (end > n_off || end > n_len) return ThrowArg(env, "tunWrite: end exceeds descriptor arrays");
  uint8_t* status = nullptr;
  size_t n_status = 0;
  if (info.Length() > 7 && !info[7].IsUndefined()) {
    if (!GetTyped(info[7], napi_uint8_array, &status, &n_status) || end > n_status) {
      return ThrowArg(env, "tunWrite: status must be a Uint8Array covering [start, end)");
    }
  }
  uint32_t written = 0;
  for (uint32_t i = start; i < end; i++) {
    size_t off = offsets[i], len = lengths[i];
    if (status != nullptr) status[i] = 0;
    if (!TxInBuffer(off, len, buf_len, c)) continue;
    ssize_t n;
    do {
      n = write(fd, buf + off, len);
      c[kTxSyscalls]++;
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        c[kTxEagain]++;
      } else {
        c[kTxErrors]++;
        c[kLastErrno] = err;
      }
      continue;
    }
    c[kTxPackets]++;
    c[kTxBytes] += static_cast<double>(n);
    written++;
    if (status != nullptr) status[i] = 1;
  }
  return Napi::Number::New(env, written);
}

}  // namespace

void InitTun(Napi::Env env, Napi::Object exports) {
  exports.Set("tunOpen", Napi::Function::New(env, TunOpen, "tunOpen"));
  exports.Set("tunSetOffload", Napi::Function::New(env, TunSetOffload, "tunSetOffload"));
  exports.Set("tunSetVnetHdrSz", Napi::Function::New(env, TunSetVnetHdrSz, "tunSetVnetHdrSz"));
  exports.Set("tunGetFeatures", Napi::Function::New(env, TunGetFeatures, "tunGetFeatures"));
  exports.Set("tunSetQueue", Napi::Function::New(env, TunSetQueue, "tunSetQueue"));
  exports.Set("tunRead", Napi::Function::New(env, TunRead, "tunRead"));
  exports.Set("tunWrite", Napi::Function::New(env, TunWrite, "tunWrite"));

  Napi::Object k = Napi::Object::New(env);
  k.Set("IFF_TUN", Napi::Number::New(env, IFF_TUN));
  k.Set("IFF_NO_PI", Napi::Number::New(env, IFF_NO_PI));
  k.Set("IFF_VNET_HDR", Napi::Number::New(env, IFF_VNET_HDR));
  k.Set("IFF_MULTI_QUEUE", Napi::Number::New(env, IFF_MULTI_QUEUE));
  k.Set("TUN_F_CSUM", Napi::Number::New(env, TUN_F_CSUM));
  k.Set("TUN_F_TSO4", Napi::Number::New(env, TUN_F_TSO4));
  k.Set("TUN_F_TSO6", Napi::Number::New(env, TUN_F_TSO6));
  k.Set("TUN_F_TSO_ECN", Napi::Number::New(env, TUN_F_TSO_ECN));
  k.Set("TUN_F_UFO", Napi::Number::New(env, TUN_F_UFO));
  k.Set("TUN_F_USO4", Napi::Number::New(env, TUN_F_USO4));
  k.Set("TUN_F_USO6", Napi::Number::New(env, TUN_F_USO6));
  k.Set("VIRTIO_NET_HDR_LEN", Napi::Number::New(env, kVirtioNetHdrLen));
  k.Set("IFNAMSIZ", Napi::Number::New(env, IFNAMSIZ));
  exports.Set("tunConstants", k);
}

}  // namespace weft

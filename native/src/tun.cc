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

#include "batch.h"

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

// tunRead(fd, batch, start, end, counters) -> packets read
// Fills slots [start, end): packet k lands at k*slotSize + headroom (capacity slotSize - headroom),
// descriptors written from `start`. A packet larger than its slot is counted as truncated and
// dropped (its slot is reused).
Napi::Value TunRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BatchCall call;
  if (!ParseBatchCall(info, "tunRead(fd, batch, start, end, counters)", &call)) return env.Undefined();
  if (!RecvGeometryOk(call.b, call.end)) return ThrowArg(env, "tunRead: batch geometry does not fit its buffer");
  const Batch& b = call.b;
  double* c = call.c;
  const size_t cap = b.slot - b.headroom;
  uint8_t overflow[64];
  uint32_t count = call.start;  // packet `count` goes to slot `count`
  while (count < call.end) {
    size_t off = static_cast<size_t>(count) * b.slot + b.headroom;
    // The second iovec catches the overflow: TUN reads silently truncate to the buffer given.
    struct iovec iov[2] = {{b.buf + off, cap}, {overflow, sizeof overflow}};
    ssize_t n = readv(call.fd, iov, 2);
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
    b.offsets[count] = static_cast<uint32_t>(off);
    b.lengths[count] = static_cast<uint32_t>(n);
    b.tail_lengths[count] = 0;
    b.trains[count] = 0;
    c[kRxPackets]++;
    c[kRxBytes] += static_cast<double>(n);
    count++;
  }
  return Napi::Number::New(env, count - call.start);
}

// tunWrite(fd, batch, start, end, counters[, status]) -> packets written
// Each packet is one writev() (TUN takes a whole packet per call, never part of one, so there are
// no partial writes): descriptor i's head and tail, or, when trains[i] >= 2, the heads and tails
// of descriptors [i, i + trains[i]) gathered into one packet (a coalesced super-packet whose
// payload slices stay where they were received). EAGAIN or an error drops that packet (counted)
// and moves on; a train cut by `end` or needing more than IOV_MAX iovecs is refused (txErrors,
// EINVAL). With `status` (a Uint8Array), status[i] is set to 1 for every descriptor of a packet
// the kernel took and 0 otherwise, so the caller can account for exactly the packets refused.
Napi::Value TunWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BatchCall call;
  if (!ParseBatchCall(info, "tunWrite(fd, batch, start, end, counters[, status])", &call)) return env.Undefined();
  uint8_t* status = nullptr;
  size_t n_status = 0;
  if (!call.extra.IsUndefined() &&
      (!GetTyped(call.extra, napi_uint8_array, &status, &n_status) || call.end > n_status)) {
    return ThrowArg(env, "tunWrite: status must be a Uint8Array covering [start, end)");
  }
  const Batch& b = call.b;
  double* c = call.c;
  struct iovec iov[kIovChunk];
  uint32_t written = 0;
  uint32_t i = call.start;
  while (i < call.end) {
    const uint32_t members = b.trains[i] >= 2 ? b.trains[i] : 1;
    const uint32_t next = i + members > call.end ? call.end : i + members;
    if (status != nullptr) memset(status + i, 0, next - i);
    bool ok = i + members <= call.end && 2 * members <= kIovChunk;
    if (!ok) {
      c[kTxErrors]++;
      c[kLastErrno] = EINVAL;
    }
    int niov = 0;
    for (uint32_t j = i; ok && j < next; j++) {
      ok = DescriptorInBuffer(b, j, c);
      if (ok) niov += static_cast<int>(DescriptorIov(b, j, iov + niov));
    }
    if (!ok) {
      i = next;
      continue;
    }
    ssize_t n;
    do {
      n = writev(call.fd, iov, niov);
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
      i = next;
      continue;
    }
    c[kTxPackets]++;
    c[kTxBytes] += static_cast<double>(n);
    written++;
    if (status != nullptr) memset(status + i, 1, next - i);
    i = next;
  }
  return Napi::Number::New(env, written);
}

}  // namespace

void InitTun(Napi::Env env, Napi::Object exports) {
  ExportFns(env, exports,
            {
                WEFT_FN("tunOpen", TunOpen),
                WEFT_FN("tunSetOffload", TunSetOffload),
                WEFT_FN("tunSetVnetHdrSz", TunSetVnetHdrSz),
                WEFT_FN("tunGetFeatures", TunGetFeatures),
                WEFT_FN("tunSetQueue", TunSetQueue),
                WEFT_FN("tunRead", TunRead),
                WEFT_FN("tunWrite", TunWrite),
            });
  exports.Set("tunConstants", ConstTable(env, {
                                                  WEFT_CONST(IFF_TUN),
                                                  WEFT_CONST(IFF_NO_PI),
                                                  WEFT_CONST(IFF_VNET_HDR),
                                                  WEFT_CONST(IFF_MULTI_QUEUE),
                                                  WEFT_CONST(TUN_F_CSUM),
                                                  WEFT_CONST(TUN_F_TSO4),
                                                  WEFT_CONST(TUN_F_TSO6),
                                                  WEFT_CONST(TUN_F_TSO_ECN),
                                                  WEFT_CONST(TUN_F_UFO),
                                                  WEFT_CONST(TUN_F_USO4),
                                                  WEFT_CONST(TUN_F_USO6),
                                                  WEFT_CONST_AS("VIRTIO_NET_HDR_LEN", kVirtioNetHdrLen),
                                                  WEFT_CONST(IFNAMSIZ),
                                              }));
}

}  // namespace weft

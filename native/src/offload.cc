// UDP segmentation offloads: sendmmsg with per-message UDP_SEGMENT cmsgs (GSO), recvmmsg
// with UDP_GRO cmsgs (GRO), and a batched copy-and-checksum primitive for TSO segmentation and TCP
// coalescing in TypeScript.
//
// Design notes:
// - One JS->native call per batch, as everywhere else. GSO/GRO state lives in a JS-owned
//   Float64Array (`gsoState`, slots below) so JS reads it without a call.
// - GSO fallback is decided at run time: when the kernel refuses a GSO message (EIO: egress device
//   without checksum offload; EINVAL/EOPNOTSUPP/ENOPROTOOPT: kernel without UDP_SEGMENT or a socket
//   with SO_NO_CHECK), the errno is stored in gsoState[kGsoDisabledErrno], that message is re-sent as
//   plain datagrams (iovecs into the same buffer, no copy), and every later call splits too.
// - EMSGSIZE on a GSO message means one segment no longer fits the route's MTU (the underlay MTU
//   dropped under a running node): that train is re-sent as plain datagrams, which the kernel
//   fragments (the VXLAN socket sends with DF clear, like flannel.1), and every train of that
//   segment size or more is split from then on (gsoState[kGsoSplitFrom]) until TypeScript has
//   adjusted its segment size to the new MTU and clears the slot.
// - GRO receive splits each coalesced datagram into one descriptor per segment (segments are
//   contiguous in the slot, so no copy), so callers see the same one-datagram-per-descriptor table
//   as udpRecv. `gsoSizes[d]` tells which descriptors came from one train (0 = not coalesced).
// - csumCopy is the one place native code touches packet bytes: it copies a range and takes its
//   RFC 1071 sum in one pass, so the per-byte work of segmentation and coalescing is not a JS loop.
//   It does not know any header layout; TypeScript decides every offset and writes every header.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common.h"

namespace weft {
namespace {

// gsoState slots (a Float64Array of at least kGsoStateCount). Keep in step with src/io/gso-state.ts.
enum GsoState : uint32_t {
  kGsoDisabledErrno = 0,  // 0 while GSO is used; the kernel's refusal errno once it fell back
  kGsoMessages,           // GSO messages the kernel accepted
  kGsoSegments,           // datagrams those messages carried
  kGsoSplitMessages,      // messages sent as plain datagrams (fallback, or too many segments)
  kGroMessages,           // received datagrams that were GRO trains (>1 segment)
  kGroSegments,           // segments those trains carried
  kGsoMtuSplits,          // trains sent as plain datagrams because a segment exceeded the MTU (EMSGSIZE)
  kGsoSplitFrom,          // 0, or the segment size from which trains are split without trying GSO
  kGsoStateCount
};

constexpr uint32_t kMaxGsoSegments = 64;        // UDP_MAX_SEGMENTS
constexpr uint32_t kMaxGsoBytes = 65535 - 28;   // IPv4 + UDP headers
constexpr uint32_t kMsgChunk = 128;             // messages per sendmmsg / recvmmsg

bool GetState(const Napi::Value& v, double** s) {
  size_t n = 0;
  if (!GetTyped<double>(v, napi_float64_array, s, &n)) return false;
  return n >= kGsoStateCount;
}

bool GsoRefused(int err) { return err == EIO || err == EINVAL || err == EOPNOTSUPP || err == ENOPROTOOPT; }

// Per-call scratch for udpSendGso: too large for a stack frame, and thread_local so that worker
// threads (one per TUN queue) each get their own.
struct SendScratch {
  struct mmsghdr msgs[kMsgChunk];
  struct iovec iov[kMsgChunk];
  struct sockaddr_in to[kMsgChunk];
  char ctrl[kMsgChunk][CMSG_SPACE(sizeof(uint16_t))];
  uint32_t index_of[kMsgChunk];
  uint32_t segs_of[kMsgChunk];
  uint32_t gso_of[kMsgChunk];
};
thread_local SendScratch g_send;

struct RecvScratch {
  struct mmsghdr msgs[kMsgChunk];
  struct iovec iov[kMsgChunk];
  struct sockaddr_in from[kMsgChunk];
  char ctrl[kMsgChunk][CMSG_SPACE(sizeof(int))];
};
thread_local RecvScratch g_recv;

// udpSendGso(fd, buf, offsets, lengths, addrs, ports, gsoSizes, start, end, counters, gsoState)
//   -> next index
// Descriptor k is one message: buf[offsets[k], +lengths[k]) to addrs[k]:ports[k]. When
// gsoSizes[k] > 0 and lengths[k] > gsoSizes[k], the message is a train of gsoSizes[k]-byte
// datagrams (the last may be shorter) sent with one UDP_SEGMENT cmsg. Semantics otherwise as
// udpSend: failures counted and skipped, EAGAIN returns the first unsent descriptor. txPackets
// counts datagrams on the wire.
Napi::Value UdpSendGso(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  uint32_t start, end;
  uint8_t* buf;
  uint32_t *offsets, *lengths, *addrs;
  uint16_t *ports, *gso;
  size_t buf_len, n_off, n_len, n_addr, n_port, n_gso;
  double *c, *st;
  if (!GetI32(info[0], &fd) || !GetTyped(info[1], napi_uint8_array, &buf, &buf_len) ||
      !GetTyped(info[2], napi_uint32_array, &offsets, &n_off) ||
      !GetTyped(info[3], napi_uint32_array, &lengths, &n_len) ||
      !GetTyped(info[4], napi_uint32_array, &addrs, &n_addr) ||
      !GetTyped(info[5], napi_uint16_array, &ports, &n_port) ||
      !GetTyped(info[6], napi_uint16_array, &gso, &n_gso) || !GetU32(info[7], &start) || !GetU32(info[8], &end) ||
      !GetCounters(info[9], &c) || !GetState(info[10], &st)) {
    return ThrowArg(env, "udpSendGso(fd, buf, offsets, lengths, addrs, ports, gsoSizes, start, end, counters, gsoState)");
  }
  if (end > n_off || end > n_len || end > n_addr || end > n_port || end > n_gso) {
    return ThrowArg(env, "udpSendGso: end exceeds descriptor arrays");
  }
  SendScratch& s = g_send;
  uint32_t i = start;
  while (i < end) {
    // Build up to kMsgChunk messages. A GSO message is one iovec; a split one is one message per
    // segment (all pointing into buf).
    uint32_t n = 0;
    for (; i < end && n < kMsgChunk; i++) {
      size_t off = offsets[i], len = lengths[i];
      if (!TxInBuffer(off, len, buf_len, c)) continue;
      uint32_t g = gso[i];
      uint32_t segs = (g > 0 && len > g) ? static_cast<uint32_t>((len + g - 1) / g) : 1;
      bool over_mtu = segs > 1 && st[kGsoSplitFrom] > 0 && g >= st[kGsoSplitFrom];
      bool use_gso = segs > 1 && st[kGsoDisabledErrno] == 0 && !over_mtu && segs <= kMaxGsoSegments &&
                     len <= kMaxGsoBytes;
      uint32_t msgs_needed = (segs > 1 && !use_gso) ? segs : 1;
      if (msgs_needed > kMsgChunk) {  // cannot be split into one sendmmsg: refuse, as the kernel would
        c[kTxErrors]++;
        c[kLastErrno] = EMSGSIZE;
        continue;
      }
      if (n + msgs_needed > kMsgChunk) break;  // next chunk
      if (segs > 1 && !use_gso) st[kGsoSplitMessages]++;
      if (over_mtu) st[kGsoMtuSplits]++;
      for (uint32_t k = 0; k < msgs_needed; k++) {
        size_t soff = off + (msgs_needed > 1 ? static_cast<size_t>(k) * g : 0);
        size_t slen = msgs_needed > 1 ? (k + 1 < msgs_needed ? g : len - static_cast<size_t>(k) * g) : len;
        struct mmsghdr& m = s.msgs[n];
        PrepareMsg(&m, &s.iov[n], &s.to[n], buf + soff, slen);
        memset(&s.to[n], 0, sizeof s.to[n]);
        s.to[n].sin_family = AF_INET;
        s.to[n].sin_addr.s_addr = htonl(addrs[i]);
        s.to[n].sin_port = htons(ports[i]);
        if (use_gso) {
          m.msg_hdr.msg_control = s.ctrl[n];
          m.msg_hdr.msg_controllen = sizeof s.ctrl[n];
          struct cmsghdr* cm = CMSG_FIRSTHDR(&m.msg_hdr);
          cm->cmsg_level = SOL_UDP;
          cm->cmsg_type = UDP_SEGMENT;
          cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
          uint16_t gs = static_cast<uint16_t>(g);
          memcpy(CMSG_DATA(cm), &gs, sizeof gs);
        }
        s.index_of[n] = i;
        s.segs_of[n] = use_gso ? segs : 1;
        s.gso_of[n] = g;
        n++;
      }
    }
    uint32_t k = 0;
    while (k < n) {
      int sent = sendmmsg(fd, s.msgs + k, n - k, MSG_DONTWAIT);
      c[kTxSyscalls]++;
      if (sent < 0) {
        int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
          c[kTxEagain]++;
          return Napi::Number::New(env, s.index_of[k]);
        }
        if (s.segs_of[k] > 1 && GsoRefused(err)) {
          // The kernel refuses GSO: remember why, and resend this and the rest of the chunk as
          // plain datagrams (rebuilt from descriptor index_of[k] on).
          st[kGsoDisabledErrno] = err;
          i = s.index_of[k];
          break;
        }
        if (s.segs_of[k] > 1 && err == EMSGSIZE) {
          // A segment is over the route's MTU: resend this train (and the rest of the chunk) with
          // trains of this segment size split, so the kernel fragments them instead.
          st[kGsoSplitFrom] = s.gso_of[k];
          i = s.index_of[k];
          break;
        }
        c[kTxErrors]++;
        c[kLastErrno] = err;
        k++;
        continue;
      }
      for (int j = 0; j < sent; j++) {
        struct mmsghdr& m = s.msgs[k + j];
        uint32_t segs = s.segs_of[k + j];
        c[kTxPackets] += segs;
        c[kTxBytes] += m.msg_len;
        if (segs > 1) {
          st[kGsoMessages]++;
          st[kGsoSegments] += segs;
        }
      }
      k += static_cast<uint32_t>(sent);
    }
  }
  return Napi::Number::New(env, end > start ? end : start);
}

// udpRecvGro(fd, buf, offsets, lengths, addrs, ports, gsoSizes, maxDesc, slots, slotSize, headroom,
//            counters, gsoState) -> descriptor count
// Like udpRecv, with UDP_GRO cmsgs read: a datagram received as a GRO train of segment size g is
// reported as ceil(len/g) descriptors into its slot (gsoSizes[d] = g); plain datagrams get
// gsoSizes[d] = 0. At most `slots` datagrams are received and at most `maxDesc` descriptors filled
// (a recvmmsg asks only for as many datagrams as can surely be described: 64 segments each).
Napi::Value UdpRecvGro(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  uint32_t max_desc, slots, slot, headroom;
  uint8_t* buf;
  uint32_t *offsets, *lengths, *addrs;
  uint16_t *ports, *gso;
  size_t buf_len, n_off, n_len, n_addr, n_port, n_gso;
  double *c, *st;
  if (!GetI32(info[0], &fd) || !GetTyped(info[1], napi_uint8_array, &buf, &buf_len) ||
      !GetTyped(info[2], napi_uint32_array, &offsets, &n_off) ||
      !GetTyped(info[3], napi_uint32_array, &lengths, &n_len) ||
      !GetTyped(info[4], napi_uint32_array, &addrs, &n_addr) ||
      !GetTyped(info[5], napi_uint16_array, &ports, &n_port) ||
      !GetTyped(info[6], napi_uint16_array, &gso, &n_gso) || !GetU32(info[7], &max_desc) ||
      !GetU32(info[8], &slots) || !GetU32(info[9], &slot) || !GetU32(info[10], &headroom) ||
      !GetCounters(info[11], &c) || !GetState(info[12], &st)) {
    return ThrowArg(env,
                    "udpRecvGro(fd, buf, offsets, lengths, addrs, ports, gsoSizes, maxDesc, slots, slotSize, "
                    "headroom, counters, gsoState)");
  }
  if (headroom >= slot || static_cast<size_t>(slots) * slot > buf_len || max_desc > n_off || max_desc > n_len ||
      max_desc > n_addr || max_desc > n_port || max_desc > n_gso) {
    return ThrowArg(env, "udpRecvGro: batch geometry does not fit its buffer or descriptor arrays");
  }
  RecvScratch& s = g_recv;
  const size_t cap = slot - headroom;
  uint32_t slot_index = 0, count = 0;
  while (slot_index < slots) {
    uint32_t want = slots - slot_index;
    uint32_t fit = (max_desc - count) / kMaxGsoSegments;
    if (want > fit) want = fit;
    if (want > kMsgChunk) want = kMsgChunk;
    if (want == 0) break;
    for (uint32_t k = 0; k < want; k++) {
      PrepareMsg(&s.msgs[k], &s.iov[k], &s.from[k], buf + static_cast<size_t>(slot_index + k) * slot + headroom, cap);
      s.msgs[k].msg_hdr.msg_control = s.ctrl[k];
      s.msgs[k].msg_hdr.msg_controllen = sizeof s.ctrl[k];
    }
    int got = recvmmsg(fd, s.msgs, want, MSG_DONTWAIT, nullptr);
    c[kRxSyscalls]++;
    if (got < 0) {
      if (errno == EINTR) continue;
      CountRxFailure(c, errno);
      break;
    }
    for (int k = 0; k < got; k++) {
      struct msghdr& h = s.msgs[k].msg_hdr;
      if (h.msg_flags & MSG_TRUNC) {
        c[kRxTruncated]++;
        continue;
      }
      uint32_t g = 0;
      for (struct cmsghdr* cm = CMSG_FIRSTHDR(&h); cm != nullptr; cm = CMSG_NXTHDR(&h, cm)) {
        if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
          int v = 0;
          memcpy(&v, CMSG_DATA(cm), cm->cmsg_len >= CMSG_LEN(sizeof(int)) ? sizeof(int) : sizeof(uint16_t));
          g = static_cast<uint32_t>(v) & 0xffff;
        }
      }
      const uint32_t len = s.msgs[k].msg_len;
      const uint32_t base = static_cast<uint32_t>(static_cast<size_t>(slot_index + k) * slot + headroom);
      const uint32_t from = ntohl(s.from[k].sin_addr.s_addr);
      const uint16_t port = ntohs(s.from[k].sin_port);
      if (g == 0 || len <= g) g = 0;
      uint32_t segs = g == 0 ? 1 : (len + g - 1) / g;
      if (segs > 1) {
        st[kGroMessages]++;
        st[kGroSegments] += segs;
      }
      for (uint32_t j = 0; j < segs; j++) {
        offsets[count] = base + j * g;
        lengths[count] = g == 0 ? len : (j + 1 < segs ? g : len - j * g);
        addrs[count] = from;
        ports[count] = port;
        gso[count] = static_cast<uint16_t>(g);
        count++;
      }
      c[kRxPackets] += segs;
      c[kRxBytes] += len;
    }
    slot_index += static_cast<uint32_t>(got);
    if (static_cast<uint32_t>(got) < want) break;
  }
  return Napi::Number::New(env, count);
}

// RFC 1071 §2(B): the one's complement sum is byte-order independent, so sum native-order 32-bit
// words into 64-bit lanes (no carry lost below 2^32 words; the compiler vectorises the loop),
// fold, and swap the 16-bit result to network order once. An odd tail byte is the high byte of a
// big-endian word padded on the right, i.e. the low byte of a little-endian one.
inline uint32_t FoldSwap(uint64_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return static_cast<uint32_t>(acc);
#else
  return static_cast<uint32_t>(((acc & 0xff) << 8) | (acc >> 8));
#endif
}

// Folded RFC 1071 sum (not complemented) of src[0, len) as big-endian 16-bit words; with kCopy
// also copies it to dst in the same pass. The offload paths copy data that has just left the
// kernel and is not in cache, so reading it once instead of twice is what counts.
template <bool kCopy>
uint32_t SumRange(uint8_t* dst, const uint8_t* src, size_t len) {
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  size_t i = 0;
  for (; i + 16 <= len; i += 16) {
    uint32_t w[4];
    memcpy(w, src + i, 16);
    if (kCopy) memcpy(dst + i, w, 16);
    a0 += w[0];
    a1 += w[1];
    a2 += w[2];
    a3 += w[3];
  }
  uint64_t acc = a0 + a1 + a2 + a3;
  for (; i + 4 <= len; i += 4) {
    uint32_t w;
    memcpy(&w, src + i, 4);
    if (kCopy) memcpy(dst + i, &w, 4);
    acc += w;
  }
  if (i + 2 <= len) {
    uint16_t w;
    memcpy(&w, src + i, 2);
    if (kCopy) memcpy(dst + i, &w, 2);
    acc += w;
    i += 2;
  }
  if (i < len) {
    if (kCopy) dst[i] = src[i];
    acc += src[i];
  }
  return FoldSwap(acc);
}

// SumCopy sums and copies in one pass; a dst that overlaps src from above would be overwritten
// before it is read, so that case sums first and then memmoves.
uint32_t SumCopy(uint8_t* dst, const uint8_t* src, size_t len) {
  if (dst > src && dst < src + len) {
    uint32_t sum = SumRange<false>(nullptr, src, len);
    memmove(dst, src, len);
    return sum;
  }
  return SumRange<true>(dst, src, len);
}

// csumCopy(src, dst, plan: Uint32Array, n, sums: Uint32Array) -> undefined
// For each k < n with plan[3k..3k+2] = (srcOff, dstOff, len): sums[k] = the folded (not
// complemented) 16-bit RFC 1071 sum of src[srcOff, +len); then, unless dstOff is 0xFFFFFFFF,
// memmove it to dst[dstOff]. src and dst may be the same buffer. Out-of-range entries get
// sums[k] = 0xFFFFFFFF and copy nothing.
Napi::Value CsumCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t *src, *dst;
  uint32_t *plan, *sums, n;
  size_t src_len, dst_len, n_plan, n_sums;
  if (!GetTyped(info[0], napi_uint8_array, &src, &src_len) || !GetTyped(info[1], napi_uint8_array, &dst, &dst_len) ||
      !GetTyped(info[2], napi_uint32_array, &plan, &n_plan) || !GetU32(info[3], &n) ||
      !GetTyped(info[4], napi_uint32_array, &sums, &n_sums)) {
    return ThrowArg(env, "csumCopy(src, dst, plan, n, sums)");
  }
  if (static_cast<size_t>(n) * 3 > n_plan || n > n_sums) return ThrowArg(env, "csumCopy: n exceeds plan or sums");
  for (uint32_t k = 0; k < n; k++) {
    size_t so = plan[3 * k], d = plan[3 * k + 1], len = plan[3 * k + 2];
    bool copy = plan[3 * k + 1] != 0xFFFFFFFFu;
    if (so > src_len || len > src_len - so || (copy && (d > dst_len || len > dst_len - d))) {
      sums[k] = 0xFFFFFFFFu;
      continue;
    }
    sums[k] = copy ? SumCopy(dst + d, src + so, len) : SumRange<false>(nullptr, src + so, len);
  }
  return env.Undefined();
}

}  // namespace

void InitOffload(Napi::Env env, Napi::Object exports) {
  exports.Set("udpSendGso", Napi::Function::New(env, UdpSendGso, "udpSendGso"));
  exports.Set("udpRecvGro", Napi::Function::New(env, UdpRecvGro, "udpRecvGro"));
  exports.Set("csumCopy", Napi::Function::New(env, CsumCopy, "csumCopy"));
  Napi::Object k = Napi::Object::New(env);
  k.Set("GSO_STATE_COUNT", Napi::Number::New(env, kGsoStateCount));
  k.Set("MAX_GSO_SEGMENTS", Napi::Number::New(env, kMaxGsoSegments));
  k.Set("MAX_GSO_BYTES", Napi::Number::New(env, kMaxGsoBytes));
  k.Set("MSG_CHUNK", Napi::Number::New(env, kMsgChunk));
  exports.Set("offloadConstants", k);
}

}  // namespace weft

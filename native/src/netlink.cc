// rtnetlink sockets for route programming and lookups without a child process
// (src/io/rtnetlink-deps.ts).
// System calls only: the messages are built and parsed in TypeScript (src/wire/rtnetlink.ts). The
// one piece of protocol here is the framing needed to know when a reply is complete: each
// message's length, type and sequence number.
//
// netlinkOpen(netns, rcvBuf) opens AF_NETLINK/NETLINK_ROUTE, optionally inside /run/netns/NAME
// (setns on the calling thread, socket(), setns back: the socket keeps the namespace it was made
// in). netlinkTransact(fd, request, firstSeq, lastSeq, dump) runs on libuv's pool (napi async
// work), so the event loop never waits on the kernel: one send() of the whole request, then
// recv() until every sequence number in [firstSeq, lastSeq] has its NLMSG_ERROR (ack) or, for a
// dump, until NLMSG_DONE. SO_RCVTIMEO bounds every wait.
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"

#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

namespace weft {
namespace {

// A reply larger than this is refused (a main table of ~1,000,000 routes).
constexpr size_t kMaxReply = 256u << 20;
// Each recv() asks for this much: the kernel's dump skbs are at most 32 KiB.
constexpr size_t kRecvChunk = 64u << 10;
// No single wait for the kernel lasts longer.
constexpr int kRecvTimeoutSec = 10;

Napi::Error ErrnoError(Napi::Env env, const char* syscall, int err, const std::string& detail) {
  std::string message = std::string(syscall) + " " + ErrnoName(err) + ": " + strerror(err);
  if (!detail.empty()) message += " (" + detail + ")";
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

// netlinkOpen(netns: string | null, rcvBuf: number) -> fd
Napi::Value NetlinkOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t rcvbuf = 0;
  bool named = info[0].IsString();
  if ((!named && !info[0].IsNull() && !info[0].IsUndefined()) || !GetI32(info[1], &rcvbuf))
    return ThrowArg(env, "netlinkOpen(netns: string | null, rcvBuf: number)");
  std::string ns = named ? info[0].As<Napi::String>().Utf8Value() : std::string();
  if (named && (ns.empty() || ns.find('/') != std::string::npos || ns == "." || ns == ".."))
    return ThrowArg(env, "netlinkOpen: netns must be a name under /run/netns");

  int home = -1;
  int target = -1;
  if (named) {
    home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) return ThrowErrno(env, "open", errno, "/proc/thread-self/ns/net");
    std::string path = "/run/netns/" + ns;
    target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (target < 0) {
      int err = errno;
      close(home);
      return ThrowErrno(env, "open", err, path.c_str());
    }
    if (setns(target, CLONE_NEWNET) < 0) {
      int err = errno;
      close(home);
      close(target);
      return ThrowErrno(env, "setns", err, path.c_str());
    }
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  int sockErr = errno;
  if (named) {
    // Back to the thread's own namespace before anything else can run on it.
    if (setns(home, CLONE_NEWNET) < 0) abort();
    close(home);
    close(target);
  }
  if (fd < 0) return ThrowErrno(env, "socket", sockErr, "AF_NETLINK NETLINK_ROUTE");

  struct sockaddr_nl local = {};
  local.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&local), sizeof local) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "bind", err, "AF_NETLINK");
  }
  // Acks without a copy of the request (smaller, so more of them fit the receive buffer), and with
  // the kernel's message when it has one (what iproute2 prints as `Error: ...`).
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  if (rcvbuf > 0) SetBufferSize(fd, SO_RCVBUF, SO_RCVBUFFORCE, rcvbuf);
  struct timeval tv = {kRecvTimeoutSec, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return Napi::Number::New(env, fd);
}

class TransactWorker : public Napi::AsyncWorker {
 public:
  TransactWorker(Napi::Env env, int fd, std::vector<uint8_t> request, uint32_t first, uint32_t last, bool dump)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        fd_(fd),
        request_(std::move(request)),
        first_(first),
        last_(last),
        dump_(dump) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    ssize_t sent;
    do sent = send(fd_, request_.data(), request_.size(), 0);
    while (sent < 0 && errno == EINTR);
    if (sent < 0) return Fail("send", errno);
    if (static_cast<size_t>(sent) != request_.size()) return Fail("send", EMSGSIZE);

    const uint64_t want = static_cast<uint64_t>(last_) - first_ + 1;
    uint64_t acked = 0;
    bool done = false;
    while (!done) {
      size_t at = reply_.size();
      if (at + kRecvChunk > kMaxReply) return Fail("recv", EMSGSIZE);
      reply_.resize(at + kRecvChunk);
      ssize_t n;
      do n = recv(fd_, reply_.data() + at, kRecvChunk, MSG_TRUNC);
      while (n < 0 && errno == EINTR);
      if (n < 0) return Fail("recv", errno == EAGAIN ? ETIMEDOUT : errno);
      if (static_cast<size_t>(n) > kRecvChunk) return Fail("recv", EMSGSIZE);
      reply_.resize(at + static_cast<size_t>(n));
      // Framing only: which messages answer this request, and is that all of them.
      size_t off = at;
      while (off + sizeof(struct nlmsghdr) <= reply_.size()) {
        struct nlmsghdr h;
        memcpy(&h, reply_.data() + off, sizeof h);
        if (h.nlmsg_len < sizeof h || off + h.nlmsg_len > reply_.size()) break;  // TS reports it
        bool ours = h.nlmsg_seq >= first_ && h.nlmsg_seq <= last_;
        if (ours && h.nlmsg_type == NLMSG_ERROR) {
          if (dump_ || ++acked == want) done = true;
        } else if (ours && dump_ && h.nlmsg_type == NLMSG_DONE) {
          done = true;
        }
        off += NLMSG_ALIGN(h.nlmsg_len);
      }
      if (off < reply_.size() && !done) return Fail("recv", EBADMSG);
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    deferred_.Resolve(Napi::Buffer<uint8_t>::Copy(env, reply_.data(), reply_.size()));
  }

  void OnError(const Napi::Error&) override {
    deferred_.Reject(ErrnoError(Env(), syscall_, errno_, "netlink").Value());
  }

 private:
  void Fail(const char* syscall, int err) {
    syscall_ = syscall;
    errno_ = err;
    SetError(syscall);
  }

  Napi::Promise::Deferred deferred_;
  int fd_;
  std::vector<uint8_t> request_;
  std::vector<uint8_t> reply_;
  uint32_t first_;
  uint32_t last_;
  bool dump_;
  const char* syscall_ = "";
  int errno_ = 0;
};

// netlinkTransact(fd, request: Uint8Array, firstSeq, lastSeq, dump: boolean) -> Promise<Buffer>
Napi::Value NetlinkTransact(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd = -1;
  uint32_t first = 0;
  uint32_t last = 0;
  uint8_t* data = nullptr;
  size_t len = 0;
  if (!GetI32(info[0], &fd) || !GetTyped<uint8_t>(info[1], napi_uint8_array, &data, &len) ||
      !GetU32(info[2], &first) || !GetU32(info[3], &last) || !info[4].IsBoolean() || last < first || len == 0)
    return ThrowArg(env, "netlinkTransact(fd, request: Uint8Array, firstSeq, lastSeq >= firstSeq, dump: boolean)");
  // The request is copied: JS memory is never borrowed past the call.
  auto* w = new TransactWorker(env, fd, std::vector<uint8_t>(data, data + len), first, last,
                               info[4].As<Napi::Boolean>().Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// errnoMessage(errno) -> strerror() text, as iproute2 prints it ("File exists").
Napi::Value ErrnoMessage(const Napi::CallbackInfo& info) {
  int32_t err = 0;
  if (!GetI32(info[0], &err)) return ThrowArg(info.Env(), "errnoMessage(errno: number)");
  return Napi::String::New(info.Env(), strerror(err));
}

}  // namespace

void InitNetlink(Napi::Env env, Napi::Object exports) {
  ExportFns(env, exports,
            {WEFT_FN("netlinkOpen", NetlinkOpen), WEFT_FN("netlinkTransact", NetlinkTransact),
             WEFT_FN("errnoMessage", ErrnoMessage)});
}

}  // namespace weft

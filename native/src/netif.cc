// Interface MTU through SIOCGIFMTU/SIOCSIFMTU: a convenience for Tun.mtu. Addresses and link state
// go through iproute2 from TypeScript (src/io/netdev.ts); routes through rtnetlink (netlink.cc).
#include <linux/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common.h"

namespace weft {
namespace {

bool FillIfreq(const Napi::Value& v, struct ifreq* ifr, std::string* name) {
  if (!v.IsString()) return false;
  *name = v.As<Napi::String>().Utf8Value();
  if (name->size() >= IFNAMSIZ) return false;
  memset(ifr, 0, sizeof *ifr);
  memcpy(ifr->ifr_name, name->data(), name->size());
  return true;
}

Napi::Value IfMtu(const Napi::CallbackInfo& info, bool set) {
  Napi::Env env = info.Env();
  struct ifreq ifr;
  std::string name;
  if (!FillIfreq(info[0], &ifr, &name)) return ThrowArg(env, "ifGetMtu/ifSetMtu(name: string of <= 15 bytes)");
  int32_t mtu = 0;
  if (set && !GetI32(info[1], &mtu)) return ThrowArg(env, "ifSetMtu(name, mtu)");
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return ThrowErrno(env, "socket", errno);
  ifr.ifr_mtu = mtu;
  int rc = ioctl(s, set ? SIOCSIFMTU : SIOCGIFMTU, &ifr);
  int err = errno;
  close(s);
  if (rc < 0) return ThrowErrno(env, set ? "SIOCSIFMTU" : "SIOCGIFMTU", err, name.c_str());
  return set ? env.Undefined() : Napi::Number::New(env, ifr.ifr_mtu);
}

Napi::Value IfGetMtu(const Napi::CallbackInfo& info) { return IfMtu(info, false); }
Napi::Value IfSetMtu(const Napi::CallbackInfo& info) { return IfMtu(info, true); }

}  // namespace

void InitNetif(Napi::Env env, Napi::Object exports) {
  ExportFns(env, exports, {WEFT_FN("ifGetMtu", IfGetMtu), WEFT_FN("ifSetMtu", IfSetMtu)});
}

}  // namespace weft

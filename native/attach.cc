// Attachments: tc clsact filters (netlink, optionally inside another network namespace),
// cgroup v2 programs, and the interface list the tc attach loop walks.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <memory>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

namespace bpfproxy {

namespace {

struct TcTarget {
  std::string netns, ifname;
  int ifindex = 0;
  bool ingress = true;
  uint32_t handle = 0, priority = 0;
  int prog_fd = 0;
};

TcTarget ParseTc(const Napi::Object& o) {
  TcTarget t;
  if (o.Has("netns") && o.Get("netns").IsString()) t.netns = o.Get("netns").As<Napi::String>();
  if (o.Has("ifname") && o.Get("ifname").IsString()) t.ifname = o.Get("ifname").As<Napi::String>();
  if (o.Has("ifindex") && o.Get("ifindex").IsNumber()) t.ifindex = o.Get("ifindex").As<Napi::Number>().Int32Value();
  if (o.Has("direction") && o.Get("direction").IsString())
    t.ingress = o.Get("direction").As<Napi::String>().Utf8Value() != "egress";
  t.handle = o.Get("handle").As<Napi::Number>().Uint32Value();
  t.priority = o.Get("priority").As<Napi::Number>().Uint32Value();
  if (o.Has("progFd") && o.Get("progFd").IsNumber()) t.prog_fd = o.Get("progFd").As<Napi::Number>().Int32Value();
  return t;
}

std::string Where(const TcTarget& t) {
  std::string dev = t.ifname.empty() ? "ifindex " + std::to_string(t.ifindex) : t.ifname;
  return dev + (t.ingress ? " ingress" : " egress") + (t.netns.empty() ? "" : " in " + t.netns);
}

// Runs inside the target netns thread: the name must be resolved there.
int ResolveIfindex(TcTarget& t) {
  if (t.ifindex == 0) {
    t.ifindex = if_nametoindex(t.ifname.c_str());
    if (t.ifindex == 0) return -errno;
  }
  return 0;
}

bpf_tc_hook HookOf(const TcTarget& t, bpf_tc_attach_point point) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = t.ifindex, .attach_point = point);
  return hook;
}

bpf_tc_attach_point Direction(const TcTarget& t) { return t.ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS; }

// One tc step on the libuv pool: joins the target's netns, resolves the interface name
// there, then runs `step` (0 or -errno; it names what failed in `op`). With `found`, a
// missing interface is "nothing attached" (*found = false) instead of an error.
using TcStep = std::function<int(TcTarget&, std::string& op)>;
Napi::Promise RunTc(Napi::Env env, std::shared_ptr<TcTarget> t, std::shared_ptr<bool> found, TcStep step,
                    FnWorker::Done done) {
  return FnWorker::Run(
      env,
      [t, found, step](FnWorker& w) {
        std::string op;
        int rc = InNetns(t->netns, [&]() -> int {
          int err = ResolveIfindex(*t);
          if (found && (err == -ENODEV || err == -ENXIO)) return *found = false, 0;
          if (err) return op = "if_nametoindex", err;
          return step(*t, op);
        }, &op);
        if (rc) w.Fail(op + " " + Where(*t), rc);
      },
      std::move(done));
}

Napi::Value Found(Napi::Env env, const std::shared_ptr<bool>& found) { return Napi::Boolean::New(env, *found); }

// tcAttach({netns?, ifname|ifindex, direction, handle, priority, progFd}) → Promise<{ifindex, progId}>
// Idempotent: clsact is created when missing, an existing filter at handle/priority is replaced.
Napi::Value TcAttach(const Napi::CallbackInfo& info) {
  auto t = std::make_shared<TcTarget>(ParseTc(info[0].As<Napi::Object>()));
  auto prog_id = std::make_shared<uint32_t>(0);
  return RunTc(
      info.Env(), t, nullptr,
      [prog_id](TcTarget& t, std::string& op) -> int {
        auto hook = HookOf(t, Direction(t));
        int err = bpf_tc_hook_create(&hook);
        if (err && err != -EEXIST) return op = "tc hook create", err;
        LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = t.prog_fd, .flags = BPF_TC_F_REPLACE,
                    .handle = t.handle, .priority = t.priority);
        err = bpf_tc_attach(&hook, &opts);
        if (err) return op = "tc attach", err;
        *prog_id = opts.prog_id;
        return 0;
      },
      [t, prog_id](Napi::Env env) -> Napi::Value {
        auto o = Napi::Object::New(env);
        o.Set("ifindex", t->ifindex);
        o.Set("progId", *prog_id);
        return o;
      });
}

// tcDetach({...}) → Promise<boolean> (false when there was nothing to detach)
Napi::Value TcDetach(const Napi::CallbackInfo& info) {
  auto t = std::make_shared<TcTarget>(ParseTc(info[0].As<Napi::Object>()));
  auto found = std::make_shared<bool>(true);
  return RunTc(
      info.Env(), t, found,
      [found](TcTarget& t, std::string& op) -> int {
        auto hook = HookOf(t, Direction(t));
        LIBBPF_OPTS(bpf_tc_opts, opts, .handle = t.handle, .priority = t.priority);
        int err = bpf_tc_detach(&hook, &opts);
        // No clsact qdisc (EINVAL) or no such filter (ENOENT): nothing attached.
        if (err == -ENOENT || err == -EINVAL) return *found = false, 0;
        if (err) return op = "tc detach", err;
        return 0;
      },
      [found](Napi::Env env) { return Found(env, found); });
}

// tcHookDestroy({netns?, ifname|ifindex}) → Promise<boolean>: removes the clsact qdisc (and
// with it every filter on it: callers check it is empty first).
Napi::Value TcHookDestroy(const Napi::CallbackInfo& info) {
  auto o = info[0].As<Napi::Object>();
  o.Set("handle", 0);
  o.Set("priority", 0);
  auto t = std::make_shared<TcTarget>(ParseTc(o));
  auto found = std::make_shared<bool>(true);
  return RunTc(
      info.Env(), t, found,
      [found](TcTarget& t, std::string& op) -> int {
        auto hook = HookOf(t, (bpf_tc_attach_point)(BPF_TC_INGRESS | BPF_TC_EGRESS));
        int err = bpf_tc_hook_destroy(&hook);
        if (err == -ENOENT || err == -EINVAL) return *found = false, 0;
        if (err) return op = "tc hook destroy", err;
        return 0;
      },
      [found](Napi::Env env) { return Found(env, found); });
}

// tcQuery({...}) → Promise<number|null>: id of the program at handle/priority.
Napi::Value TcQuery(const Napi::CallbackInfo& info) {
  auto t = std::make_shared<TcTarget>(ParseTc(info[0].As<Napi::Object>()));
  auto id = std::make_shared<int64_t>(-1);
  return RunTc(
      info.Env(), t, nullptr,
      [id](TcTarget& t, std::string& op) -> int {
        auto hook = HookOf(t, Direction(t));
        LIBBPF_OPTS(bpf_tc_opts, opts, .handle = t.handle, .priority = t.priority);
        int err = bpf_tc_query(&hook, &opts);
        if (err == -ENOENT || err == -EINVAL) return 0;
        if (err) return op = "tc query", err;
        *id = opts.prog_id;
        return 0;
      },
      [id](Napi::Env env) -> Napi::Value { return *id < 0 ? env.Null() : Napi::Number::New(env, (double)*id); });
}

struct Iface {
  std::string name;
  int index;
  unsigned flags;
  int hwType;  // ARPHRD_* (1 = Ethernet; 0xfffe = none, as tun and WireGuard; 768 = IPIP)
};

// listInterfaces(netns?) → Promise<[{name, index, loopback, up}]>
Napi::Value ListInterfaces(const Napi::CallbackInfo& info) {
  std::string netns = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  auto out = std::make_shared<std::vector<Iface>>();
  return FnWorker::Run(
      info.Env(),
      [netns, out](FnWorker& w) {
        std::string op;
        int rc = InNetns(netns, [&]() -> int {
          struct if_nameindex* list = if_nameindex();
          if (!list) return op = "if_nameindex", -errno;
          int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
          for (auto* p = list; p->if_index != 0; p++) {
            struct ifreq ifr = {};
            strncpy(ifr.ifr_name, p->if_name, IFNAMSIZ - 1);
            unsigned flags = 0;
            int hw = -1;
            if (sock >= 0 && ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) flags = (unsigned short)ifr.ifr_flags;
            if (sock >= 0 && ioctl(sock, SIOCGIFHWADDR, &ifr) == 0) hw = ifr.ifr_hwaddr.sa_family;
            out->push_back({p->if_name, (int)p->if_index, flags, hw});
          }
          if (sock >= 0) close(sock);
          if_freenameindex(list);
          return 0;
        }, &op);
        if (rc) w.Fail(op + (netns.empty() ? "" : " in " + netns), rc);
      },
      [out](Napi::Env env) -> Napi::Value {
        auto a = Napi::Array::New(env, out->size());
        for (size_t i = 0; i < out->size(); i++) {
          auto o = Napi::Object::New(env);
          o.Set("name", (*out)[i].name);
          o.Set("index", (*out)[i].index);
          o.Set("loopback", ((*out)[i].flags & IFF_LOOPBACK) != 0);
          o.Set("up", ((*out)[i].flags & IFF_UP) != 0);
          o.Set("hwType", (*out)[i].hwType);
          a.Set(i, o);
        }
        return a;
      });
}

int OpenCgroup(Napi::Env env, const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) ThrowBpf(env, "open cgroup " + path, errno);
  return fd;
}

// cgroupAttach(path, progFd, attachType, replaceProgFd|0): multi-attach; replaces atomically
// when replaceProgFd is given (a restarted controller swaps in its new program).
Napi::Value CgroupAttach(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  std::string path = info[0].As<Napi::String>();
  int prog_fd = info[1].As<Napi::Number>().Int32Value();
  auto type = (bpf_attach_type)info[2].As<Napi::Number>().Int32Value();
  int replace = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : 0;
  int cg = OpenCgroup(env, path);
  LIBBPF_OPTS(bpf_prog_attach_opts, opts, .flags = BPF_F_ALLOW_MULTI | (replace ? BPF_F_REPLACE : 0u),
              .replace_prog_fd = replace);
  int rc = bpf_prog_attach_opts(prog_fd, cg, type, &opts);
  int err = errno;
  close(cg);
  if (rc < 0) ThrowBpf(env, "cgroup attach " + path + " type " + std::to_string(type), err);
  return env.Undefined();
}

Napi::Value CgroupDetach(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  std::string path = info[0].As<Napi::String>();
  int prog_fd = info[1].As<Napi::Number>().Int32Value();
  auto type = (bpf_attach_type)info[2].As<Napi::Number>().Int32Value();
  int cg = OpenCgroup(env, path);
  int rc = bpf_prog_detach2(prog_fd, cg, type);
  int err = errno;
  close(cg);
  if (rc < 0) {
    if (err == ENOENT) return Napi::Boolean::New(env, false);
    ThrowBpf(env, "cgroup detach " + path + " type " + std::to_string(type), err);
  }
  return Napi::Boolean::New(env, true);
}

// cgroupQuery(path, attachType) → number[] of attached program ids
Napi::Value CgroupQuery(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  std::string path = info[0].As<Napi::String>();
  auto type = (bpf_attach_type)info[1].As<Napi::Number>().Int32Value();
  int cg = OpenCgroup(env, path);
  uint32_t ids[64], cnt = 64, attach_flags = 0;
  int rc = bpf_prog_query(cg, type, 0, &attach_flags, ids, &cnt);
  int err = errno;
  close(cg);
  if (rc < 0) ThrowBpf(env, "cgroup query " + path, err);
  auto a = Napi::Array::New(env, cnt);
  for (uint32_t i = 0; i < cnt; i++) a.Set(i, ids[i]);
  return a;
}

}  // namespace

void InitAttach(Napi::Env env, Napi::Object exports) {
  exports.Set("tcAttach", Napi::Function::New(env, TcAttach));
  exports.Set("tcDetach", Napi::Function::New(env, TcDetach));
  exports.Set("tcQuery", Napi::Function::New(env, TcQuery));
  exports.Set("tcHookDestroy", Napi::Function::New(env, TcHookDestroy));
  exports.Set("listInterfaces", Napi::Function::New(env, ListInterfaces));
  exports.Set("cgroupAttach", Napi::Function::New(env, CgroupAttach));
  exports.Set("cgroupDetach", Napi::Function::New(env, CgroupDetach));
  exports.Set("cgroupQuery", Napi::Function::New(env, CgroupQuery));
}

}  // namespace bpfproxy

// XDP attachments (netlink, libbpf 1.1's bpf_xdp_attach/detach/query: no bpf_link, so a
// restarted controller replaces the program in place and a pinned program stays attached),
// and XDP test runs inside a network namespace (bpf_fib_lookup and the live-frames mode
// use the namespace of the calling thread).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>

#include <memory>

#include "common.h"

namespace bpfproxy {

namespace {

struct XdpTarget {
  std::string netns, ifname, mode;
  int ifindex = 0;
  int prog_fd = 0;
};

XdpTarget ParseXdp(const Napi::Object& o) {
  XdpTarget t;
  if (o.Has("netns") && o.Get("netns").IsString()) t.netns = o.Get("netns").As<Napi::String>();
  if (o.Has("ifname") && o.Get("ifname").IsString()) t.ifname = o.Get("ifname").As<Napi::String>();
  if (o.Has("ifindex") && o.Get("ifindex").IsNumber()) t.ifindex = o.Get("ifindex").As<Napi::Number>().Int32Value();
  if (o.Has("mode") && o.Get("mode").IsString()) t.mode = o.Get("mode").As<Napi::String>();
  if (o.Has("progFd") && o.Get("progFd").IsNumber()) t.prog_fd = o.Get("progFd").As<Napi::Number>().Int32Value();
  return t;
}

std::string Where(const XdpTarget& t) {
  std::string dev = t.ifname.empty() ? "ifindex " + std::to_string(t.ifindex) : t.ifname;
  return dev + (t.mode.empty() ? "" : " (" + t.mode + ")") + (t.netns.empty() ? "" : " in " + t.netns);
}

uint32_t ModeFlags(const std::string& mode) {
  if (mode == "generic") return XDP_FLAGS_SKB_MODE;
  if (mode == "native") return XDP_FLAGS_DRV_MODE;
  return 0;
}

// One XDP step on the libuv pool inside the target's netns (see attach.cc's RunTc).
using XdpStep = std::function<int(XdpTarget&, std::string& op)>;
Napi::Promise RunXdp(Napi::Env env, std::shared_ptr<XdpTarget> t, XdpStep step, FnWorker::Done done) {
  return FnWorker::Run(
      env,
      [t, step](FnWorker& w) {
        std::string op;
        int rc = InNetns(t->netns, [&]() -> int {
          if (t->ifindex == 0) {
            t->ifindex = if_nametoindex(t->ifname.c_str());
            if (t->ifindex == 0) return op = "if_nametoindex", -errno;
          }
          return step(*t, op);
        }, &op);
        if (rc) w.Fail(op + " " + Where(*t), rc);
      },
      std::move(done));
}

// xdpAttach({netns?, ifname|ifindex, mode: 'native'|'generic', progFd}) → Promise<number> (program id)
// Atomically replaces a program already attached in that mode (netlink IFLA_XDP).
Napi::Value XdpAttach(const Napi::CallbackInfo& info) {
  auto t = std::make_shared<XdpTarget>(ParseXdp(info[0].As<Napi::Object>()));
  auto id = std::make_shared<uint32_t>(0);
  return RunXdp(
      info.Env(), t,
      [id](XdpTarget& t, std::string& op) -> int {
        int err = bpf_xdp_attach(t.ifindex, t.prog_fd, ModeFlags(t.mode), nullptr);
        if (err) return op = "xdp attach", err;
        LIBBPF_OPTS(bpf_xdp_query_opts, q);
        err = bpf_xdp_query(t.ifindex, 0, &q);
        if (err) return op = "xdp query", err;
        *id = t.mode == "generic" ? q.skb_prog_id : q.drv_prog_id;
        return 0;
      },
      [id](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *id); });
}

// xdpDetach({netns?, ifname|ifindex, mode}) → Promise<boolean> (false: the interface is gone)
Napi::Value XdpDetach(const Napi::CallbackInfo& info) {
  auto t = std::make_shared<XdpTarget>(ParseXdp(info[0].As<Napi::Object>()));
  auto found = std::make_shared<bool>(true);
  auto step = [found](XdpTarget& t, std::string& op) -> int {
    int err = bpf_xdp_detach(t.ifindex, ModeFlags(t.mode), nullptr);
    if (err) return op = "xdp detach", err;
    return 0;
  };
  return FnWorker::Run(
      info.Env(),
      [t, found, step](FnWorker& w) {
        std::string op;
        int rc = InNetns(t->netns, [&]() -> int {
          if (t->ifindex == 0) {
            t->ifindex = if_nametoindex(t->ifname.c_str());
            if (t->ifindex == 0) return *found = false, 0;
          }
          return step(*t, op);
        }, &op);
        if (rc == -ENODEV) *found = false;
        else if (rc) w.Fail(op + " " + Where(*t), rc);
      },
      [found](Napi::Env env) -> Napi::Value { return Napi::Boolean::New(env, *found); });
}

// xdpQuery({netns?, ifname|ifindex}) → Promise<{mode: 'none'|'native'|'generic'|'offload'|'multi', progId, nativeId, genericId}>
Napi::Value XdpQuery(const Napi::CallbackInfo& info) {
  auto t = std::make_shared<XdpTarget>(ParseXdp(info[0].As<Napi::Object>()));
  auto q = std::make_shared<bpf_xdp_query_opts>();
  return RunXdp(
      info.Env(), t,
      [q](XdpTarget& t, std::string& op) -> int {
        LIBBPF_OPTS(bpf_xdp_query_opts, opts);
        int err = bpf_xdp_query(t.ifindex, 0, &opts);
        if (err) return op = "xdp query", err;
        *q = opts;
        return 0;
      },
      [q](Napi::Env env) -> Napi::Value {
        auto o = Napi::Object::New(env);
        const char* mode = "none";
        switch (q->attach_mode) {
          case XDP_ATTACHED_DRV: mode = "native"; break;
          case XDP_ATTACHED_SKB: mode = "generic"; break;
          case XDP_ATTACHED_HW: mode = "offload"; break;
          case XDP_ATTACHED_MULTI: mode = "multi"; break;
        }
        o.Set("mode", mode);
        o.Set("progId", q->prog_id);
        o.Set("nativeId", q->drv_prog_id);
        o.Set("genericId", q->skb_prog_id);
        return o;
      });
}

// xdpTestRun({progFd, data, netns?, ifindex?, repeat?, live?, batchSize?}) → Promise<{retval, dataOut}>
// In the namespace given, with ingress_ifindex set (so bpf_fib_lookup and XDP_TX/redirect see
// that device); `live`: BPF_F_TEST_XDP_LIVE_FRAMES, the frames are really sent (kernel 5.18+).
Napi::Value XdpTestRun(const Napi::CallbackInfo& info) {
  auto o = info[0].As<Napi::Object>();
  int fd = o.Get("progFd").As<Napi::Number>().Int32Value();
  auto data = std::make_shared<std::vector<uint8_t>>(CopyBuffer(o.Get("data")));
  std::string netns = o.Has("netns") && o.Get("netns").IsString() ? o.Get("netns").As<Napi::String>().Utf8Value() : "";
  std::string ifname = o.Has("ifname") && o.Get("ifname").IsString() ? o.Get("ifname").As<Napi::String>().Utf8Value() : "";
  uint32_t repeat = o.Has("repeat") && o.Get("repeat").IsNumber() ? o.Get("repeat").As<Napi::Number>().Uint32Value() : 1;
  bool live = o.Has("live") && o.Get("live").ToBoolean();
  uint32_t batch = o.Has("batchSize") && o.Get("batchSize").IsNumber() ? o.Get("batchSize").As<Napi::Number>().Uint32Value() : 0;
  struct Result {
    std::vector<uint8_t> out;
    uint32_t retval = 0;
  };
  auto res = std::make_shared<Result>();
  res->out.resize(data->size() + 256);
  return FnWorker::Run(
      info.Env(),
      [=](FnWorker& w) {
        std::string op;
        int rc = InNetns(netns, [&]() -> int {
          xdp_md ctx = {};
          if (!ifname.empty()) {
            ctx.ingress_ifindex = if_nametoindex(ifname.c_str());
            if (ctx.ingress_ifindex == 0) return op = "if_nametoindex " + ifname, -errno;
          }
          ctx.data_end = data->size();
          LIBBPF_OPTS(bpf_test_run_opts, opts);
          opts.data_in = data->data();
          opts.data_size_in = data->size();
          if (!live) {
            opts.data_out = res->out.data();
            opts.data_size_out = res->out.size();
          }
          opts.ctx_in = &ctx;
          opts.ctx_size_in = sizeof(ctx);
          opts.repeat = repeat;
          if (live) {
            opts.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
            opts.batch_size = batch;
          }
          if (bpf_prog_test_run_opts(fd, &opts) < 0) return op = "xdp test run", -errno;
          res->retval = opts.retval;
          res->out.resize(live ? 0 : opts.data_size_out);
          return 0;
        }, &op);
        if (rc) w.Fail(op + (netns.empty() ? "" : " in " + netns), rc);
      },
      [res](Napi::Env env) -> Napi::Value {
        auto r = Napi::Object::New(env);
        r.Set("retval", res->retval);
        r.Set("dataOut", ToBuffer(env, res->out.data(), res->out.size()));
        return r;
      });
}

}  // namespace

void InitXdp(Napi::Env env, Napi::Object exports) {
  exports.Set("xdpAttach", Napi::Function::New(env, XdpAttach));
  exports.Set("xdpDetach", Napi::Function::New(env, XdpDetach));
  exports.Set("xdpQuery", Napi::Function::New(env, XdpQuery));
  exports.Set("xdpTestRun", Napi::Function::New(env, XdpTestRun));
}

}  // namespace bpfproxy

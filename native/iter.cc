// BPF iterators (sock_destroy.bpf.c) and the network namespace cookie the socket LB's
// --socket-lb-host-netns-only compares against. A socket iterator walks the sockets of the
// network namespace its fd is created in, so the fd is created inside the target netns.
#include <bpf/bpf.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace bpfproxy {

namespace {

// iterLink(progFd) → link fd (the iterator program made runnable; closed with closeFd).
Napi::Value IterLink(const Napi::CallbackInfo& info) {
  int prog_fd = info[0].As<Napi::Number>().Int32Value();
  int fd = bpf_link_create(prog_fd, 0, BPF_TRACE_ITER, nullptr);
  if (fd < 0) ThrowBpf(info.Env(), "iterator link create", errno);
  return Napi::Number::New(info.Env(), fd);
}

// iterRun(linkFd, netns|null) → Promise<Buffer>: one pass of the iterator over the sockets
// of `netns` (default: ours), and everything it wrote.
Napi::Value IterRun(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  int link_fd = info[0].As<Napi::Number>().Int32Value();
  std::string netns = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  auto out = std::make_shared<std::vector<uint8_t>>();
  return FnWorker::Run(
      env,
      [link_fd, netns, out](FnWorker& w) {
        std::string op = "iterator create";
        int rc = InNetns(netns, [&]() -> int {
          int fd = bpf_iter_create(link_fd);
          if (fd < 0) return -errno;
          op = "iterator read";
          uint8_t buf[4096];
          for (;;) {
            ssize_t n = read(fd, buf, sizeof(buf));
            if (n == 0) break;
            if (n < 0) {
              if (errno == EINTR) continue;
              int e = errno;
              close(fd);
              return -e;
            }
            out->insert(out->end(), buf, buf + n);
          }
          close(fd);
          return 0;
        }, &op);
        if (rc) w.Fail(op + (netns.empty() ? "" : " in " + netns), rc);
      },
      [out](Napi::Env env) -> Napi::Value { return ToBuffer(env, out->data(), out->size()); });
}

// netnsCookie(netns|null) → Promise<bigint>: the cookie bpf_get_netns_cookie() returns for
// sockets of that namespace (SO_NETNS_COOKIE, kernel 5.14+).
Napi::Value NetnsCookie(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  std::string netns = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  auto cookie = std::make_shared<uint64_t>(0);
  return FnWorker::Run(
      env,
      [netns, cookie](FnWorker& w) {
        std::string op = "SO_NETNS_COOKIE";
        int rc = InNetns(netns, [&]() -> int {
          int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
          if (s < 0) return op = "socket", -errno;
          socklen_t len = sizeof(*cookie);
          int r = getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, cookie.get(), &len);
          int e = errno;
          close(s);
          return r < 0 ? -e : 0;
        }, &op);
        if (rc) w.Fail(op + (netns.empty() ? "" : " in " + netns), rc);
      },
      [cookie](Napi::Env env) -> Napi::Value { return Napi::BigInt::New(env, *cookie); });
}

}  // namespace

void InitIter(Napi::Env env, Napi::Object exports) {
  exports.Set("iterLink", Napi::Function::New(env, IterLink));
  exports.Set("iterRun", Napi::Function::New(env, IterRun));
  exports.Set("netnsCookie", Napi::Function::New(env, NetnsCookie));
}

}  // namespace bpfproxy

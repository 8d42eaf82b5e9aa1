// NETLINK_SOCK_DIAG for the socket-destroy fallback on kernels without the bpf_sock_destroy
// kfunc (< 6.5): list the IPv4 or IPv6 TCP/UDP sockets of a network namespace with their cookies
// (inet_diag dump), and destroy one by its exact id and cookie (SOCK_DESTROY, which needs
// CONFIG_INET_DIAG_DESTROY). Both run inside the target netns, like the iterator.
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "common.h"

namespace bpfproxy {

namespace {

struct DiagSock {
  uint8_t family = AF_INET;
  uint32_t src[4] = {0, 0, 0, 0}, dst[4] = {0, 0, 0, 0};  // network order (IPv4: word 0)
  uint16_t sport = 0, dport = 0;  // network order
  uint32_t ifindex = 0;
  uint32_t cookie[2] = {0, 0};
  uint8_t state = 0;
};

struct DiagReq {
  nlmsghdr nlh;
  inet_diag_req_v2 r;
};

int OpenDiag() {
  int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (s < 0) return -errno;
  timeval tv = {5, 0};  // a bound on a kernel that never answers, not a measurement
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return s;
}

int SendReq(int s, const DiagReq& req) {
  sockaddr_nl sa = {};
  sa.nl_family = AF_NETLINK;
  if (sendto(s, &req, sizeof(req), 0, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) < 0) return -errno;
  return 0;
}

// Reads replies to sequence `seq` until NLMSG_DONE (dump) or the ACK/error (single request).
// Returns 0 or -errno (a NLMSG_ERROR's code included).
int ReadReplies(int s, uint32_t seq, bool dump, std::vector<DiagSock>* out) {
  std::vector<char> buf(32768);
  for (int rounds = 0; rounds < 1 << 20; rounds++) {
    ssize_t n = recv(s, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        if (e->error != 0 || !dump) return e->error;
        continue;
      }
      if (!dump || h->nlmsg_type != SOCK_DIAG_BY_FAMILY || !out) continue;
      auto* m = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
      DiagSock d;
      d.family = m->idiag_family;
      memcpy(d.src, m->id.idiag_src, sizeof(d.src));
      memcpy(d.dst, m->id.idiag_dst, sizeof(d.dst));
      d.sport = m->id.idiag_sport;
      d.dport = m->id.idiag_dport;
      d.ifindex = m->id.idiag_if;
      d.cookie[0] = m->id.idiag_cookie[0];
      d.cookie[1] = m->id.idiag_cookie[1];
      d.state = m->idiag_state;
      out->push_back(d);
    }
  }
  return -EIO;
}

std::string IpText(uint8_t family, const uint32_t* a) {
  char s[INET6_ADDRSTRLEN];
  inet_ntop(family, a, s, sizeof(s));
  return s;
}

// An address of either family (one with ':' is IPv6) into a[4]; returns its family.
uint8_t ParseIp(const std::string& s, uint32_t* a) {
  if (s.find(':') != std::string::npos) {
    inet_pton(AF_INET6, s.c_str(), a);
    return AF_INET6;
  }
  inet_pton(AF_INET, s.c_str(), a);
  return AF_INET;
}

// sockDiagDump(netns|null, proto, states, family?) → Promise<Array<{src, sport, dst, dport, ifindex, cookie, state}>>
// family 6: the IPv6 sockets (dual-stack ones included, with IPv4-mapped addresses); else IPv4.
Napi::Value SockDiagDump(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  std::string netns = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  uint8_t proto = info[1].As<Napi::Number>().Uint32Value();
  uint32_t states = info[2].As<Napi::Number>().Uint32Value();
  uint8_t family = info.Length() > 3 && info[3].IsNumber() && info[3].As<Napi::Number>().Uint32Value() == 6 ? AF_INET6 : AF_INET;
  auto out = std::make_shared<std::vector<DiagSock>>();
  return FnWorker::Run(
      env,
      [netns, proto, states, family, out](FnWorker& w) {
        std::string op = "sock_diag dump";
        int rc = InNetns(netns, [&]() -> int {
          int s = OpenDiag();
          if (s < 0) return s;
          DiagReq req = {};
          req.nlh.nlmsg_len = sizeof(req);
          req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
          req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
          req.nlh.nlmsg_seq = 1;
          req.r.sdiag_family = family;
          req.r.sdiag_protocol = proto;
          req.r.idiag_states = states;
          int err = SendReq(s, req);
          if (!err) err = ReadReplies(s, 1, true, out.get());
          close(s);
          return err;
        }, &op);
        if (rc) w.Fail(op + " proto " + std::to_string(proto) + (netns.empty() ? "" : " in " + netns), rc);
      },
      [out](Napi::Env env) -> Napi::Value {
        auto a = Napi::Array::New(env, out->size());
        for (size_t i = 0; i < out->size(); i++) {
          const auto& d = (*out)[i];
          auto o = Napi::Object::New(env);
          o.Set("src", IpText(d.family, d.src));
          o.Set("sport", ntohs(d.sport));
          o.Set("dst", IpText(d.family, d.dst));
          o.Set("dport", ntohs(d.dport));
          o.Set("ifindex", d.ifindex);
          o.Set("cookie", Napi::BigInt::New(env, (uint64_t)d.cookie[0] | ((uint64_t)d.cookie[1] << 32)));
          o.Set("state", d.state);
          a.Set(i, o);
        }
        return a;
      });
}

// sockDestroy(netns|null, proto, socks) → Promise<number[]>: SOCK_DESTROY for each socket
// (as sockDiagDump returned it: the cookie makes it exact), 0 or the errno for each.
Napi::Value SockDestroy(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  std::string netns = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  uint8_t proto = info[1].As<Napi::Number>().Uint32Value();
  auto arr = info[2].As<Napi::Array>();
  std::vector<DiagSock> socks;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    auto o = arr.Get(i).As<Napi::Object>();
    DiagSock d;
    d.family = ParseIp(o.Get("src").As<Napi::String>(), d.src);
    ParseIp(o.Get("dst").As<Napi::String>(), d.dst);
    d.sport = htons(o.Get("sport").As<Napi::Number>().Uint32Value());
    d.dport = htons(o.Get("dport").As<Napi::Number>().Uint32Value());
    d.ifindex = o.Get("ifindex").As<Napi::Number>().Uint32Value();
    bool lossless = false;
    uint64_t c = o.Get("cookie").As<Napi::BigInt>().Uint64Value(&lossless);
    d.cookie[0] = (uint32_t)c;
    d.cookie[1] = (uint32_t)(c >> 32);
    socks.push_back(d);
  }
  auto res = std::make_shared<std::vector<int>>(socks.size(), 0);
  return FnWorker::Run(
      env,
      [netns, proto, socks, res](FnWorker& w) {
        std::string op = "sock_diag destroy";
        int rc = InNetns(netns, [&]() -> int {
          int s = OpenDiag();
          if (s < 0) return s;
          for (size_t i = 0; i < socks.size(); i++) {
            const auto& d = socks[i];
            DiagReq req = {};
            req.nlh.nlmsg_len = sizeof(req);
            req.nlh.nlmsg_type = SOCK_DESTROY;
            req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
            req.nlh.nlmsg_seq = i + 1;
            req.r.sdiag_family = d.family;
            req.r.sdiag_protocol = proto;
            req.r.idiag_states = ~0U;
            memcpy(req.r.id.idiag_src, d.src, sizeof(d.src));
            memcpy(req.r.id.idiag_dst, d.dst, sizeof(d.dst));
            req.r.id.idiag_sport = d.sport;
            req.r.id.idiag_dport = d.dport;
            req.r.id.idiag_if = d.ifindex;
            req.r.id.idiag_cookie[0] = d.cookie[0];
            req.r.id.idiag_cookie[1] = d.cookie[1];
            int err = SendReq(s, req);
            if (!err) err = ReadReplies(s, i + 1, false, nullptr);
            (*res)[i] = err < 0 ? -err : err;
          }
          close(s);
          return 0;
        }, &op);
        if (rc) w.Fail(op + (netns.empty() ? "" : " in " + netns), rc);
      },
      [res](Napi::Env env) -> Napi::Value {
        auto a = Napi::Array::New(env, res->size());
        for (size_t i = 0; i < res->size(); i++) a.Set(i, (*res)[i]);
        return a;
      });
}

}  // namespace

void InitSockDiag(Napi::Env env, Napi::Object exports) {
  exports.Set("sockDiagDump", Napi::Function::New(env, SockDiagDump));
  exports.Set("sockDestroy", Napi::Function::New(env, SockDestroy));
}

}  // namespace bpfproxy

// Shared pieces of the addon: errno → JS error with {op, errno, code}, the libbpf log
// capture (verifier output ends up in the error), and a Promise-returning AsyncWorker.
#pragma once

#include <napi.h>
#include <cerrno>
#include <functional>
#include <string>
#include <vector>

namespace bpfproxy {

// Builds the error object the TS wrapper turns into BpfError.
Napi::Error MakeBpfError(Napi::Env env, const std::string& op, int err, const std::string& log = "");

// Throws a BpfError-shaped JS exception (C++ exceptions are enabled).
[[noreturn]] void ThrowBpf(Napi::Env env, const std::string& op, int err);

// libbpf prints (warnings + verifier logs) collected since the last call.
void ResetLibbpfLog();
std::string TakeLibbpfLog();
void InstallLibbpfPrint();

// A worker that runs `exec` on the libuv pool and settles a Promise.
class FnWorker : public Napi::AsyncWorker {
 public:
  using Exec = std::function<void(FnWorker&)>;
  using Done = std::function<Napi::Value(Napi::Env)>;

  FnWorker(Napi::Env env, Exec exec, Done done)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)),
        exec_(std::move(exec)), done_(std::move(done)) {}

  static Napi::Promise Run(Napi::Env env, Exec exec, Done done) {
    auto* w = new FnWorker(env, std::move(exec), std::move(done));
    auto p = w->deferred_.Promise();
    w->Queue();
    return p;
  }

  // Called from Execute on failure (negative or positive errno accepted).
  void Fail(const std::string& op, int err, std::string log = "") {
    op_ = op;
    errno_ = err < 0 ? -err : err;
    log_ = std::move(log);
    SetError(op);
  }

 protected:
  void Execute() override { exec_(*this); }
  void OnOK() override {
    try {
      deferred_.Resolve(done_(Env()));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error&) override {
    deferred_.Reject(MakeBpfError(Env(), op_, errno_, log_).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Exec exec_;
  Done done_;
  std::string op_;
  int errno_ = 0;
  std::string log_;
};

// Copy of a JS Buffer's bytes, safe to use from a worker thread.
inline std::vector<uint8_t> CopyBuffer(const Napi::Value& v) {
  auto b = v.As<Napi::Buffer<uint8_t>>();
  return std::vector<uint8_t>(b.Data(), b.Data() + b.Length());
}

inline Napi::Buffer<uint8_t> ToBuffer(Napi::Env env, const uint8_t* data, size_t len) {
  return Napi::Buffer<uint8_t>::Copy(env, data, len);
}

// Runs fn on a fresh thread that first joins the network namespace at `netns_path` (empty =
// stay): setns() only moves the calling thread, and a throwaway thread never leaks the
// namespace into the libuv pool. Returns 0 or -errno (from setns or fn).
int InNetns(const std::string& netns_path, const std::function<int()>& fn, std::string* failed_op);

void InitObject(Napi::Env env, Napi::Object exports);
void InitMap(Napi::Env env, Napi::Object exports);
void InitAttach(Napi::Env env, Napi::Object exports);
void InitAbi(Napi::Env env, Napi::Object exports);
void InitIter(Napi::Env env, Napi::Object exports);
void InitSockDiag(Napi::Env env, Napi::Object exports);
void InitXdp(Napi::Env env, Napi::Object exports);

}  // namespace bpfproxy

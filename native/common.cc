#include "common.h"

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include <cstdarg>
#include <mutex>
#include <thread>

namespace bpfproxy {

namespace {
std::mutex log_mu;
std::string log_buf;
constexpr size_t kMaxLog = 256 * 1024;

int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[4096];
  int n = vsnprintf(line, sizeof(line), fmt, args);
  std::lock_guard<std::mutex> g(log_mu);
  // Keep the tail: the verifier's verdict is at the end of its log.
  log_buf.append(line, n < 0 ? 0 : std::min<size_t>(n, sizeof(line) - 1));
  if (log_buf.size() > kMaxLog) log_buf.erase(0, log_buf.size() - kMaxLog);
  return 0;
}
}  // namespace

void InstallLibbpfPrint() { libbpf_set_print(LibbpfPrint); }

void ResetLibbpfLog() {
  std::lock_guard<std::mutex> g(log_mu);
  log_buf.clear();
}

std::string TakeLibbpfLog() {
  std::lock_guard<std::mutex> g(log_mu);
  std::string out;
  out.swap(log_buf);
  return out;
}

Napi::Error MakeBpfError(Napi::Env env, const std::string& op, int err, const std::string& log) {
  const char* name = strerrorname_np(err);
  std::string msg = op + ": " + strerror(err) + " (" + (name ? name : "E?") + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("op", Napi::String::New(env, op));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  if (!log.empty()) e.Set("log", Napi::String::New(env, log));
  return e;
}

void ThrowBpf(Napi::Env env, const std::string& op, int err) {
  throw MakeBpfError(env, op, err < 0 ? -err : err);
}

int InNetns(const std::string& netns_path, const std::function<int()>& fn, std::string* failed_op) {
  if (netns_path.empty()) return fn();
  int rc = 0;
  std::thread t([&]() {
    int fd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      rc = -errno;
      if (failed_op) *failed_op = "open netns " + netns_path;
      return;
    }
    if (setns(fd, CLONE_NEWNET) < 0) {
      rc = -errno;
      close(fd);
      if (failed_op) *failed_op = "setns " + netns_path;
      return;
    }
    close(fd);
    rc = fn();
  });
  t.join();
  return rc;
}

}  // namespace bpfproxy

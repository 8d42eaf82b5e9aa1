// Objects and programs: open+load (pin root set before load, so LIBBPF_PIN_BY_NAME maps are
// reused from bpffs), pin/get, info, and BPF_PROG_TEST_RUN.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <map>
#include <mutex>

#include "common.h"

namespace bpfproxy {

namespace {

std::mutex objects_mu;
std::map<int, bpf_object*> objects;
int next_handle = 1;

struct ProgDesc {
  std::string name, section;
  int fd;
  int type;
  int expected_attach_type;
};
struct MapDesc {
  std::string name;
  int fd;
  int type;
  uint32_t key_size, value_size, max_entries;
};

// openLoad(path, pinRoot, maxEntries?) → Promise<{handle, programs, maps}>
// maxEntries {mapName: n} resizes maps before load (a pinned map of another size is then
// not reused: libbpf fails the load, naming the map).
Napi::Value OpenLoad(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  std::string path = info[0].As<Napi::String>();
  std::string pin_root = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  std::map<std::string, uint32_t> sizes;
  if (info.Length() > 2 && info[2].IsObject()) {
    auto o = info[2].As<Napi::Object>();
    auto names = o.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); i++) {
      std::string n = names.Get(i).As<Napi::String>();
      sizes[n] = o.Get(n).As<Napi::Number>().Uint32Value();
    }
  }
  auto out = std::make_shared<std::tuple<int, std::vector<ProgDesc>, std::vector<MapDesc>>>();

  return FnWorker::Run(
      env,
      [path, pin_root, sizes, out](FnWorker& w) {
        LIBBPF_OPTS(bpf_object_open_opts, opts);
        if (!pin_root.empty()) opts.pin_root_path = pin_root.c_str();
        ResetLibbpfLog();
        bpf_object* obj = bpf_object__open_file(path.c_str(), &opts);
        int err = libbpf_get_error(obj);
        if (err) return w.Fail("open " + path, err, TakeLibbpfLog());
        for (auto& [name, n] : sizes) {
          bpf_map* m = bpf_object__find_map_by_name(obj, name.c_str());
          if (!m) continue;  // not every object has every map
          err = bpf_map__set_max_entries(m, n);
          if (err) {
            bpf_object__close(obj);
            return w.Fail("resize map " + name, err, TakeLibbpfLog());
          }
        }
        err = bpf_object__load(obj);
        if (err) {
          std::string log = TakeLibbpfLog();
          bpf_object__close(obj);
          return w.Fail("load " + path, err, log);
        }
        TakeLibbpfLog();
        auto& [handle, progs, maps] = *out;
        bpf_program* prog;
        bpf_object__for_each_program(prog, obj) {
          progs.push_back({bpf_program__name(prog), bpf_program__section_name(prog), bpf_program__fd(prog),
                           (int)bpf_program__type(prog), (int)bpf_program__expected_attach_type(prog)});
        }
        bpf_map* map;
        bpf_object__for_each_map(map, obj) {
          maps.push_back({bpf_map__name(map), bpf_map__fd(map), (int)bpf_map__type(map), bpf_map__key_size(map),
                          bpf_map__value_size(map), bpf_map__max_entries(map)});
        }
        std::lock_guard<std::mutex> g(objects_mu);
        handle = next_handle++;
        objects[handle] = obj;
      },
      [out](Napi::Env env) -> Napi::Value {
        auto& [handle, progs, maps] = *out;
        auto res = Napi::Object::New(env);
        res.Set("handle", handle);
        auto pa = Napi::Array::New(env, progs.size());
        for (size_t i = 0; i < progs.size(); i++) {
          auto o = Napi::Object::New(env);
          o.Set("name", progs[i].name);
          o.Set("section", progs[i].section);
          o.Set("fd", progs[i].fd);
          o.Set("type", progs[i].type);
          o.Set("expectedAttachType", progs[i].expected_attach_type);
          pa.Set(i, o);
        }
        auto ma = Napi::Array::New(env, maps.size());
        for (size_t i = 0; i < maps.size(); i++) {
          auto o = Napi::Object::New(env);
          o.Set("name", maps[i].name);
          o.Set("fd", maps[i].fd);
          o.Set("type", maps[i].type);
          o.Set("keySize", maps[i].key_size);
          o.Set("valueSize", maps[i].value_size);
          o.Set("maxEntries", maps[i].max_entries);
          ma.Set(i, o);
        }
        res.Set("programs", pa);
        res.Set("maps", ma);
        return res;
      });
}

// closeObject(handle): closes the object's fds (pinned objects and attachments stay).
Napi::Value CloseObject(const Napi::CallbackInfo& info) {
  int handle = info[0].As<Napi::Number>().Int32Value();
  std::lock_guard<std::mutex> g(objects_mu);
  auto it = objects.find(handle);
  if (it != objects.end()) {
    bpf_object__close(it->second);
    objects.erase(it);
  }
  return info.Env().Undefined();
}

Napi::Value ObjPin(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::string path = info[1].As<Napi::String>();
  if (bpf_obj_pin(fd, path.c_str()) < 0) ThrowBpf(info.Env(), "pin " + path, errno);
  return info.Env().Undefined();
}

Napi::Value ObjGet(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>();
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) ThrowBpf(info.Env(), "get pinned " + path, errno);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  close(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value ProgGetFdById(const Napi::CallbackInfo& info) {
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) ThrowBpf(info.Env(), "prog get fd by id " + std::to_string(id), errno);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value ProgInfo(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  bpf_prog_info pi = {};
  uint32_t len = sizeof(pi);
  if (bpf_obj_get_info_by_fd(fd, &pi, &len) < 0) ThrowBpf(env, "prog info", errno);
  auto o = Napi::Object::New(env);
  o.Set("id", pi.id);
  o.Set("type", pi.type);
  o.Set("name", std::string(pi.name));
  char tag[17];
  for (int i = 0; i < 8; i++) snprintf(tag + 2 * i, 3, "%02x", pi.tag[i]);
  o.Set("tag", std::string(tag));
  // Filled only while run-time stats are on (enableStats, or kernel.bpf_stats_enabled).
  o.Set("runTimeNs", Napi::BigInt::New(env, (uint64_t)pi.run_time_ns));
  o.Set("runCnt", Napi::BigInt::New(env, (uint64_t)pi.run_cnt));
  return o;
}

// BPF_ENABLE_STATS: run time and count of every program are kept while the returned fd is
// open (and no longer once it closes), without touching the kernel.bpf_stats_enabled sysctl.
Napi::Value EnableStats(const Napi::CallbackInfo& info) {
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) ThrowBpf(info.Env(), "enable stats", errno);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value MapInfo(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  bpf_map_info mi = {};
  uint32_t len = sizeof(mi);
  if (bpf_obj_get_info_by_fd(fd, &mi, &len) < 0) ThrowBpf(env, "map info", errno);
  auto o = Napi::Object::New(env);
  o.Set("id", mi.id);
  o.Set("type", mi.type);
  o.Set("name", std::string(mi.name));
  o.Set("keySize", mi.key_size);
  o.Set("valueSize", mi.value_size);
  o.Set("maxEntries", mi.max_entries);
  return o;
}

// progTestRun(fd, dataIn, repeat, dataOutSize, ctxIn|null) → Promise<{retval, dataOut, durationNs}>
Napi::Value ProgTestRun(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  auto data_in = CopyBuffer(info[1]);
  uint32_t repeat = info[2].As<Napi::Number>().Uint32Value();
  uint32_t out_size = info[3].As<Napi::Number>().Uint32Value();
  std::vector<uint8_t> ctx_in;
  if (info.Length() > 4 && info[4].IsBuffer()) ctx_in = CopyBuffer(info[4]);
  struct Result {
    std::vector<uint8_t> out;
    uint32_t retval = 0, duration = 0;
  };
  auto res = std::make_shared<Result>();
  res->out.resize(out_size);

  return FnWorker::Run(
      env,
      [fd, data_in, repeat, ctx_in, res](FnWorker& w) mutable {
        LIBBPF_OPTS(bpf_test_run_opts, opts);
        opts.data_in = data_in.data();
        opts.data_size_in = data_in.size();
        opts.data_out = res->out.data();
        opts.data_size_out = res->out.size();
        opts.repeat = repeat;
        if (!ctx_in.empty()) {
          opts.ctx_in = ctx_in.data();
          opts.ctx_size_in = ctx_in.size();
        }
        if (bpf_prog_test_run_opts(fd, &opts) < 0) return w.Fail("prog test run", errno);
        res->retval = opts.retval;
        res->duration = opts.duration;
        res->out.resize(opts.data_size_out);
      },
      [res](Napi::Env env) -> Napi::Value {
        auto o = Napi::Object::New(env);
        o.Set("retval", res->retval);
        o.Set("durationNs", res->duration);
        o.Set("dataOut", ToBuffer(env, res->out.data(), res->out.size()));
        return o;
      });
}

// progTestRunEach(fd, frames, frameLen) → Promise<number[]>: runs the program once on each
// frameLen-byte frame of `frames`, in order, in one worker (a load generator for whole flows:
// one syscall per packet, no JS in between). Returns how many runs ended with each retval
// (index = retval, 0..15; others counted at 15).
Napi::Value ProgTestRunEach(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  auto frames = CopyBuffer(info[1]);
  uint32_t len = info[2].As<Napi::Number>().Uint32Value();
  auto counts = std::make_shared<std::vector<uint32_t>>(16, 0);
  return FnWorker::Run(
      env,
      [fd, frames, len, counts](FnWorker& w) {
        if (len == 0 || frames.size() % len) return w.Fail("prog test run each: frames not a multiple of frameLen", EINVAL);
        std::vector<uint8_t> out(len + 256);
        for (size_t off = 0; off < frames.size(); off += len) {
          LIBBPF_OPTS(bpf_test_run_opts, opts);
          opts.data_in = frames.data() + off;
          opts.data_size_in = len;
          opts.data_out = out.data();
          opts.data_size_out = out.size();
          opts.repeat = 1;
          if (bpf_prog_test_run_opts(fd, &opts) < 0) return w.Fail("prog test run", errno);
          (*counts)[opts.retval < 15 ? opts.retval : 15]++;
        }
      },
      [counts](Napi::Env env) -> Napi::Value {
        auto a = Napi::Array::New(env, counts->size());
        for (uint32_t i = 0; i < counts->size(); i++) a.Set(i, (*counts)[i]);
        return a;
      });
}

}  // namespace

void InitObject(Napi::Env env, Napi::Object exports) {
  exports.Set("openLoad", Napi::Function::New(env, OpenLoad));
  exports.Set("closeObject", Napi::Function::New(env, CloseObject));
  exports.Set("objPin", Napi::Function::New(env, ObjPin));
  exports.Set("objGet", Napi::Function::New(env, ObjGet));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  exports.Set("progGetFdById", Napi::Function::New(env, ProgGetFdById));
  exports.Set("progInfo", Napi::Function::New(env, ProgInfo));
  exports.Set("enableStats", Napi::Function::New(env, EnableStats));
  exports.Set("mapInfo", Napi::Function::New(env, MapInfo));
  exports.Set("progTestRun", Napi::Function::New(env, ProgTestRun));
  exports.Set("progTestRunEach", Napi::Function::New(env, ProgTestRunEach));
}

}  // namespace bpfproxy

// Map operations. Single-key calls are synchronous (one syscall); dump and batches run on
// the libuv pool. Batches fall back to per-key calls when the kernel/map lacks batch ops.
#include <bpf/bpf.h>

#include "common.h"

namespace bpfproxy {

namespace {

int Fd(const Napi::Value& v) { return v.As<Napi::Number>().Int32Value(); }

Napi::Value Lookup(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  int fd = Fd(info[0]);
  auto key = info[1].As<Napi::Buffer<uint8_t>>();
  uint32_t vsize = info[2].As<Napi::Number>().Uint32Value();
  std::vector<uint8_t> val(vsize);
  if (bpf_map_lookup_elem(fd, key.Data(), val.data()) < 0) {
    if (errno == ENOENT) return env.Null();
    ThrowBpf(env, "map lookup", errno);
  }
  return ToBuffer(env, val.data(), val.size());
}

Napi::Value Update(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto key = info[1].As<Napi::Buffer<uint8_t>>();
  auto val = info[2].As<Napi::Buffer<uint8_t>>();
  uint64_t flags = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int64Value() : (uint64_t)BPF_ANY;
  if (bpf_map_update_elem(Fd(info[0]), key.Data(), val.Data(), flags) < 0) ThrowBpf(env, "map update", errno);
  return env.Undefined();
}

Napi::Value Delete(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto key = info[1].As<Napi::Buffer<uint8_t>>();
  if (bpf_map_delete_elem(Fd(info[0]), key.Data()) < 0) {
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    ThrowBpf(env, "map delete", errno);
  }
  return Napi::Boolean::New(env, true);
}

// nextKey(fd, key|null, keySize) → Buffer | null at the end
Napi::Value NextKey(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  uint32_t ksize = info[2].As<Napi::Number>().Uint32Value();
  std::vector<uint8_t> next(ksize);
  const void* cur = info[1].IsBuffer() ? info[1].As<Napi::Buffer<uint8_t>>().Data() : nullptr;
  if (bpf_map_get_next_key(Fd(info[0]), cur, next.data()) < 0) {
    if (errno == ENOENT) return env.Null();
    ThrowBpf(env, "map get next key", errno);
  }
  return ToBuffer(env, next.data(), next.size());
}

bool BatchUnsupported(int err) { return err == EINVAL || err == ENOTSUP || err == EOPNOTSUPP || err == 524; }

// dump(fd, keySize, valueSize, maxEntries) → Promise<{keys: Buffer, values: Buffer, count}>
Napi::Value Dump(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  int fd = Fd(info[0]);
  uint32_t ks = info[1].As<Napi::Number>().Uint32Value();
  uint32_t vs = info[2].As<Napi::Number>().Uint32Value();
  uint32_t max = info[3].As<Napi::Number>().Uint32Value();
  struct Out {
    std::vector<uint8_t> keys, values;
    uint32_t count = 0;
  };
  auto out = std::make_shared<Out>();
  return FnWorker::Run(
      env,
      [fd, ks, vs, max, out](FnWorker& w) {
        // Batch lookups first (a few syscalls for the whole map); entry by entry where the
        // map type has no batch ops. The batch token of a hash map is a bucket index.
        {
          const uint32_t chunk = 4096;
          std::vector<uint8_t> keys((size_t)chunk * ks), vals((size_t)chunk * vs);
          uint64_t in_tok = 0, out_tok = 0;
          bool first = true, unsupported = false;
          LIBBPF_OPTS(bpf_map_batch_opts, opts);
          for (uint64_t round = 0; round < (uint64_t)max + 16; round++) {
            uint32_t n = chunk;
            int rc = bpf_map_lookup_batch(fd, first ? nullptr : &in_tok, &out_tok, keys.data(), vals.data(), &n, &opts);
            int err = rc < 0 ? errno : 0;
            if (rc < 0 && err != ENOENT) {
              if (first && BatchUnsupported(err)) {
                unsupported = true;
                break;
              }
              return w.Fail("map lookup batch", err);
            }
            out->keys.insert(out->keys.end(), keys.begin(), keys.begin() + (size_t)n * ks);
            out->values.insert(out->values.end(), vals.begin(), vals.begin() + (size_t)n * vs);
            out->count += n;
            if (rc < 0) return;  // ENOENT: no more buckets
            first = false;
            in_tok = out_tok;
          }
          if (!unsupported) return;
        }
        std::vector<uint8_t> cur(ks), next(ks), val(vs);
        bool first = true;
        // Bounded: a map being modified concurrently can make get_next_key restart.
        for (uint64_t i = 0; i < (uint64_t)max * 2 + 16; i++) {
          if (bpf_map_get_next_key(fd, first ? nullptr : cur.data(), next.data()) < 0) {
            if (errno == ENOENT) return;
            return w.Fail("map get next key", errno);
          }
          first = false;
          cur.swap(next);
          if (bpf_map_lookup_elem(fd, cur.data(), val.data()) < 0) {
            if (errno == ENOENT) continue;  // deleted meanwhile
            return w.Fail("map lookup", errno);
          }
          out->keys.insert(out->keys.end(), cur.begin(), cur.end());
          out->values.insert(out->values.end(), val.begin(), val.end());
          out->count++;
        }
      },
      [out](Napi::Env env) -> Napi::Value {
        auto o = Napi::Object::New(env);
        o.Set("keys", ToBuffer(env, out->keys.data(), out->keys.size()));
        o.Set("values", ToBuffer(env, out->values.data(), out->values.size()));
        o.Set("count", out->count);
        return o;
      });
}


struct BatchOut {
  uint32_t done = 0;
  bool fallback = false;
};

Napi::Value BatchResult(Napi::Env env, const BatchOut& b) {
  auto o = Napi::Object::New(env);
  o.Set("done", b.done);
  o.Set("fallback", b.fallback);
  return o;
}

// updateBatch(fd, keys, values, count, elemFlags) → Promise<{done, fallback}>
Napi::Value UpdateBatch(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  int fd = Fd(info[0]);
  auto keys = CopyBuffer(info[1]);
  auto values = CopyBuffer(info[2]);
  uint32_t count = info[3].As<Napi::Number>().Uint32Value();
  uint64_t flags = info[4].IsNumber() ? info[4].As<Napi::Number>().Int64Value() : (uint64_t)BPF_ANY;
  auto out = std::make_shared<BatchOut>();
  return FnWorker::Run(
      env,
      [fd, keys, values, count, flags, out](FnWorker& w) {
        if (count == 0) return;
        size_t ks = keys.size() / count, vs = values.size() / count;
        LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = flags);
        uint32_t n = count;
        if (bpf_map_update_batch(fd, keys.data(), values.data(), &n, &opts) == 0) {
          out->done = count;
          return;
        }
        int err = errno;
        if (!BatchUnsupported(err)) {
          out->done = n;
          return w.Fail("map update batch (" + std::to_string(n) + "/" + std::to_string(count) + " done)", err);
        }
        out->fallback = true;
        for (uint32_t i = 0; i < count; i++) {
          if (bpf_map_update_elem(fd, keys.data() + i * ks, values.data() + i * vs, flags) < 0)
            return w.Fail("map update (entry " + std::to_string(i) + ")", errno);
          out->done++;
        }
      },
      [out](Napi::Env env) { return BatchResult(env, *out); });
}

// deleteBatch(fd, keys, count) → Promise<{done, fallback}>; missing keys are not an error.
Napi::Value DeleteBatch(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  int fd = Fd(info[0]);
  auto keys = CopyBuffer(info[1]);
  uint32_t count = info[2].As<Napi::Number>().Uint32Value();
  auto out = std::make_shared<BatchOut>();
  return FnWorker::Run(
      env,
      [fd, keys, count, out](FnWorker& w) {
        if (count == 0) return;
        size_t ks = keys.size() / count;
        LIBBPF_OPTS(bpf_map_batch_opts, opts);
        uint32_t n = count;
        if (bpf_map_delete_batch(fd, keys.data(), &n, &opts) == 0) {
          out->done = count;
          return;
        }
        // The batch stops at the first missing key (ENOENT): finish one by one.
        int err = errno;
        if (err != ENOENT && !BatchUnsupported(err))
          return w.Fail("map delete batch", err);
        out->fallback = true;
        out->done = err == ENOENT ? n : 0;
        for (uint32_t i = out->done; i < count; i++) {
          if (bpf_map_delete_elem(fd, keys.data() + i * ks) < 0 && errno != ENOENT)
            return w.Fail("map delete (entry " + std::to_string(i) + ")", errno);
          out->done++;
        }
      },
      [out](Napi::Env env) { return BatchResult(env, *out); });
}

// create(type, name, keySize, valueSize, maxEntries, flags) → fd: a map of our own (an inner
// map before it goes into a map-in-map). The caller owns the fd.
Napi::Value Create(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto type = (enum bpf_map_type)info[0].As<Napi::Number>().Uint32Value();
  std::string name = info[1].As<Napi::String>();
  uint32_t ks = info[2].As<Napi::Number>().Uint32Value();
  uint32_t vs = info[3].As<Napi::Number>().Uint32Value();
  uint32_t max = info[4].As<Napi::Number>().Uint32Value();
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = info[5].As<Napi::Number>().Uint32Value());
  int fd = bpf_map_create(type, name.c_str(), ks, vs, max, &opts);
  if (fd < 0) ThrowBpf(env, "map create " + name, errno);
  return Napi::Number::New(env, fd);
}

// getFdById(id) → fd (e.g. the inner map a map-in-map lookup names by id). The caller owns it.
Napi::Value GetFdById(const Napi::CallbackInfo& info) {
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  int fd = bpf_map_get_fd_by_id(id);
  if (fd < 0) ThrowBpf(info.Env(), "map get fd by id " + std::to_string(id), errno);
  return Napi::Number::New(info.Env(), fd);
}

}  // namespace

void InitMap(Napi::Env env, Napi::Object exports) {
  exports.Set("mapLookup", Napi::Function::New(env, Lookup));
  exports.Set("mapUpdate", Napi::Function::New(env, Update));
  exports.Set("mapDelete", Napi::Function::New(env, Delete));
  exports.Set("mapNextKey", Napi::Function::New(env, NextKey));
  exports.Set("mapDump", Napi::Function::New(env, Dump));
  exports.Set("mapUpdateBatch", Napi::Function::New(env, UpdateBatch));
  exports.Set("mapDeleteBatch", Napi::Function::New(env, DeleteBatch));
  exports.Set("mapCreate", Napi::Function::New(env, Create));
  exports.Set("mapGetFdById", Napi::Function::New(env, GetFdById));
}

}  // namespace bpfproxy

// sizeof/offsetof of every abi.h struct, compiled from the same header the BPF programs use;
// test/backends/ebpf/abi.test.ts checks the TS codecs against this.
#include <cstddef>

#include "../bpf/include/abi.h"
#include "common.h"

namespace bpfproxy {

namespace {

#define FIELD(S, f)                                                         \
  do {                                                                      \
    auto fo = Napi::Object::New(env);                                       \
    fo.Set("offset", (uint32_t)offsetof(struct S, f));                      \
    fo.Set("size", (uint32_t)sizeof(((struct S*)nullptr)->f));              \
    fields.Set(#f, fo);                                                     \
  } while (0)

#define STRUCT(S, BODY)                                                     \
  do {                                                                      \
    auto so = Napi::Object::New(env);                                       \
    auto fields = Napi::Object::New(env);                                   \
    BODY;                                                                   \
    so.Set("size", (uint32_t)sizeof(struct S));                             \
    so.Set("fields", fields);                                               \
    out.Set(#S, so);                                                        \
  } while (0)

Napi::Value AbiLayout(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto out = Napi::Object::New(env);
  STRUCT(svc_key, { FIELD(svc_key, vip); FIELD(svc_key, dport); FIELD(svc_key, proto); FIELD(svc_key, pad0);
                    FIELD(svc_key, slot); FIELD(svc_key, pad1); });
  STRUCT(svc_value, { FIELD(svc_value, backend_id); FIELD(svc_value, svc_id); FIELD(svc_value, count);
                      FIELD(svc_value, flags); FIELD(svc_value, affinity_timeout); });
  STRUCT(backend_value, { FIELD(backend_value, ip); FIELD(backend_value, port); FIELD(backend_value, proto);
                          FIELD(backend_value, flags); FIELD(backend_value, sp_id); });
  STRUCT(rev_nat_value, { FIELD(rev_nat_value, vip); FIELD(rev_nat_value, port); FIELD(rev_nat_value, pad0); });
  STRUCT(ct_key, { FIELD(ct_key, saddr); FIELD(ct_key, daddr); FIELD(ct_key, sport); FIELD(ct_key, dport);
                   FIELD(ct_key, proto); FIELD(ct_key, pad0); FIELD(ct_key, pad1); });
  STRUCT(ct_value, { FIELD(ct_value, expires); FIELD(ct_value, pad1); FIELD(ct_value, backend_id);
                     FIELD(ct_value, svc_id); FIELD(ct_value, nat_addr); FIELD(ct_value, orig_addr);
                     FIELD(ct_value, nat_port); FIELD(ct_value, flags); FIELD(ct_value, orig_port);
                     FIELD(ct_value, pad0); });
  STRUCT(affinity_key, { FIELD(affinity_key, svc_id); FIELD(affinity_key, client); });
  STRUCT(affinity_value, { FIELD(affinity_value, last_used); FIELD(affinity_value, backend_id);
                           FIELD(affinity_value, pad0); });
  STRUCT(id_alloc, { FIELD(id_alloc, next_svc); FIELD(id_alloc, next_backend); FIELD(id_alloc, next_sp);
                     FIELD(id_alloc, pad0); });
  STRUCT(lb_config, { FIELD(lb_config, hairpin_addr); FIELD(lb_config, snat_addr); FIELD(lb_config, snat_port_min);
                      FIELD(lb_config, snat_port_max); FIELD(lb_config, node_addr); });
  STRUCT(sock_rev_key, { FIELD(sock_rev_key, cookie); FIELD(sock_rev_key, addr); FIELD(sock_rev_key, port);
                         FIELD(sock_rev_key, pad0); });
  STRUCT(sock_rev_value, { FIELD(sock_rev_value, vip); FIELD(sock_rev_value, port); FIELD(sock_rev_value, pad0);
                           FIELD(sock_rev_value, svc_id); FIELD(sock_rev_value, pad1); });
  STRUCT(svc_meta, { FIELD(svc_meta, name); FIELD(svc_meta, kind); FIELD(svc_meta, pad0); });
  STRUCT(frag_key, { FIELD(frag_key, saddr); FIELD(frag_key, daddr); FIELD(frag_key, id); FIELD(frag_key, proto);
                     FIELD(frag_key, pad0); });
  STRUCT(frag_value, { FIELD(frag_value, sport); FIELD(frag_value, dport); });
  STRUCT(lb_src_key, { FIELD(lb_src_key, prefixlen); FIELD(lb_src_key, svc_id); FIELD(lb_src_key, addr); });
  STRUCT(lb_src_value, { FIELD(lb_src_value, allowed); });
  STRUCT(maglev_config, { FIELD(maglev_config, table_size); FIELD(maglev_config, flow_seed); });
  STRUCT(sock_lb_config, { FIELD(sock_lb_config, netns_cookie); });
  STRUCT(xdp_config, { FIELD(xdp_config, flags); FIELD(xdp_config, pad0); });
  STRUCT(sock_gone_key, { FIELD(sock_gone_key, addr); FIELD(sock_gone_key, port); FIELD(sock_gone_key, proto);
                          FIELD(sock_gone_key, pad0); FIELD(sock_gone_key, svc_id); });
  STRUCT(sock_destroyed, { FIELD(sock_destroyed, cookie); FIELD(sock_destroyed, addr); FIELD(sock_destroyed, port);
                           FIELD(sock_destroyed, proto); FIELD(sock_destroyed, pad0); FIELD(sock_destroyed, svc_id);
                           FIELD(sock_destroyed, err); });
  STRUCT(svc6_key, { FIELD(svc6_key, vip); FIELD(svc6_key, dport); FIELD(svc6_key, proto); FIELD(svc6_key, pad0);
                     FIELD(svc6_key, slot); FIELD(svc6_key, pad1); });
  STRUCT(backend6_value, { FIELD(backend6_value, ip); FIELD(backend6_value, port); FIELD(backend6_value, proto);
                           FIELD(backend6_value, flags); FIELD(backend6_value, sp_id); });
  STRUCT(rev_nat6_value, { FIELD(rev_nat6_value, vip); FIELD(rev_nat6_value, port); FIELD(rev_nat6_value, pad0); });
  STRUCT(ct6_key, { FIELD(ct6_key, saddr); FIELD(ct6_key, daddr); FIELD(ct6_key, sport); FIELD(ct6_key, dport);
                    FIELD(ct6_key, proto); FIELD(ct6_key, pad0); FIELD(ct6_key, pad1); });
  STRUCT(ct6_value, { FIELD(ct6_value, expires); FIELD(ct6_value, backend_id); FIELD(ct6_value, svc_id);
                      FIELD(ct6_value, nat_addr); FIELD(ct6_value, orig_addr); FIELD(ct6_value, nat_port);
                      FIELD(ct6_value, flags); FIELD(ct6_value, orig_port); FIELD(ct6_value, pad0); });
  STRUCT(affinity6_key, { FIELD(affinity6_key, svc_id); FIELD(affinity6_key, client); });
  STRUCT(lb6_config, { FIELD(lb6_config, hairpin_addr); FIELD(lb6_config, snat_addr); FIELD(lb6_config, node_addr); });
  STRUCT(sock_rev6_key, { FIELD(sock_rev6_key, cookie); FIELD(sock_rev6_key, addr); FIELD(sock_rev6_key, port);
                          FIELD(sock_rev6_key, pad0); FIELD(sock_rev6_key, pad1); });
  STRUCT(sock_gone6_key, { FIELD(sock_gone6_key, addr); FIELD(sock_gone6_key, port); FIELD(sock_gone6_key, proto);
                           FIELD(sock_gone6_key, pad0); FIELD(sock_gone6_key, svc_id); });
  STRUCT(sock_destroyed6, { FIELD(sock_destroyed6, cookie); FIELD(sock_destroyed6, addr); FIELD(sock_destroyed6, port);
                            FIELD(sock_destroyed6, proto); FIELD(sock_destroyed6, pad0); FIELD(sock_destroyed6, svc_id);
                            FIELD(sock_destroyed6, err); FIELD(sock_destroyed6, pad1); });
  STRUCT(sock_rev6_value, { FIELD(sock_rev6_value, vip); FIELD(sock_rev6_value, port); FIELD(sock_rev6_value, pad0);
                            FIELD(sock_rev6_value, svc_id); });
  return out;
}

Napi::Value AbiConstants(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("SVC_F_AFFINITY", SVC_F_AFFINITY);
  o.Set("SVC_F_EXTERNAL", SVC_F_EXTERNAL);
  o.Set("BE_F_ACTIVE", BE_F_ACTIVE);
  o.Set("BE_F_TERMINATING", BE_F_TERMINATING);
  o.Set("BE_F_REMOTE", BE_F_REMOTE);
  o.Set("BE_F_ACTIVE_EXT", BE_F_ACTIVE_EXT);
  o.Set("SVC_F_NODEPORT", SVC_F_NODEPORT);
  o.Set("SVC_F_DROP_EMPTY", SVC_F_DROP_EMPTY);
  o.Set("SVC_F_SNAT_ALL", SVC_F_SNAT_ALL);
  o.Set("SVC_F_SRC_RANGE", SVC_F_SRC_RANGE);
  o.Set("SVC_F_LOCALHOST", SVC_F_LOCALHOST);
  o.Set("SVC_F_MAGLEV", SVC_F_MAGLEV);
  o.Set("BPFPROXY_MAGLEV_MAX", BPFPROXY_MAGLEV_MAX);
  o.Set("BPFPROXY_MAGLEV_INNER_FLAGS", BPFPROXY_MAGLEV_INNER_FLAGS);
  o.Set("BPFPROXY_MAGLEV_SIZE_DEFAULT", BPFPROXY_MAGLEV_SIZE_DEFAULT);
  o.Set("BPFPROXY_MAGLEV_SIZE_MIN", BPFPROXY_MAGLEV_SIZE_MIN);
  o.Set("BPFPROXY_MAGLEV_SIZE_MAX", BPFPROXY_MAGLEV_SIZE_MAX);
  o.Set("STAT_DROP_SRC_RANGE", STAT_DROP_SRC_RANGE);
  o.Set("STAT_PASS_V6_EXTHDR", STAT_PASS_V6_EXTHDR);
  o.Set("BPFPROXY_LB_SRC_MAX", BPFPROXY_LB_SRC_MAX);
  o.Set("BPFPROXY_LB_SRC_SVC_BITS", BPFPROXY_LB_SRC_SVC_BITS);
  o.Set("BPFPROXY_SNAT_PORT_MIN", BPFPROXY_SNAT_PORT_MIN);
  o.Set("CT_F_CLOSING", CT_F_CLOSING);
  o.Set("CT_F_DEAD", CT_F_DEAD);
  o.Set("BPFPROXY_CT_CLOSE_TIMEOUT_S", BPFPROXY_CT_CLOSE_TIMEOUT_S);
  o.Set("BPFPROXY_CT_SYN_TIMEOUT_S", BPFPROXY_CT_SYN_TIMEOUT_S);
  o.Set("BPFPROXY_CT_RENEW_NS", static_cast<double>(BPFPROXY_CT_RENEW_NS));
  o.Set("CT_F_ESTABLISHED", CT_F_ESTABLISHED);
  o.Set("CT_F_TIMED", CT_F_TIMED);
  o.Set("BPFPROXY_CT_TCP_TIMEOUT_S", BPFPROXY_CT_TCP_TIMEOUT_S);
  o.Set("BPFPROXY_CT_UDP_TIMEOUT_S", BPFPROXY_CT_UDP_TIMEOUT_S);
  o.Set("STAT_NEW", STAT_NEW);
  o.Set("STAT_ESTABLISHED", STAT_ESTABLISHED);
  o.Set("STAT_REPLY", STAT_REPLY);
  o.Set("STAT_REJECTED", STAT_REJECTED);
  o.Set("STAT_RESET", STAT_RESET);
  o.Set("STAT_DROP_NO_BACKEND", STAT_DROP_NO_BACKEND);
  o.Set("STAT_DROP_NO_LOCAL_EP", STAT_DROP_NO_LOCAL_EP);
  o.Set("STAT_DROP_NAT", STAT_DROP_NAT);
  o.Set("STAT_DROP_SNAT_PORTS", STAT_DROP_SNAT_PORTS);
  o.Set("STAT_DROP_CT", STAT_DROP_CT);
  o.Set("STAT_DROP_FIB", STAT_DROP_FIB);
  o.Set("STAT_DROP_UNANSWERED", STAT_DROP_UNANSWERED);
  o.Set("STAT_ICMP_ERROR", STAT_ICMP_ERROR);
  o.Set("XDP_CFG_F_LOCAL_REDIRECT", XDP_CFG_F_LOCAL_REDIRECT);
  o.Set("STAT_XDP_NEW", STAT_XDP_NEW);
  o.Set("STAT_XDP_ESTABLISHED", STAT_XDP_ESTABLISHED);
  o.Set("BPFPROXY_STATS_MAX", BPFPROXY_STATS_MAX);
  o.Set("BPFPROXY_SNAT_PORT_MAX", BPFPROXY_SNAT_PORT_MAX);
  o.Set("SVC_KIND_NODE_PORT", SVC_KIND_NODE_PORT);
  o.Set("CT_F_HAIRPIN", CT_F_HAIRPIN);
  o.Set("CT_F_REPLY", CT_F_REPLY);
  o.Set("CT_F_FIB", CT_F_FIB);
  o.Set("SVC_KIND_CLUSTER_IP", SVC_KIND_CLUSTER_IP);
  o.Set("SVC_KIND_EXTERNAL_IP", SVC_KIND_EXTERNAL_IP);
  o.Set("SVC_KIND_LOAD_BALANCER", SVC_KIND_LOAD_BALANCER);
  o.Set("BPFPROXY_TC_HANDLE", BPFPROXY_TC_HANDLE);
  o.Set("BPFPROXY_TC_PRIORITY", BPFPROXY_TC_PRIORITY);
  o.Set("BPFPROXY_SOCK_GONE_MAX", BPFPROXY_SOCK_GONE_MAX);
  return o;
}

}  // namespace

void InitAbi(Napi::Env env, Napi::Object exports) {
  exports.Set("abiLayout", Napi::Function::New(env, AbiLayout));
  exports.Set("abiConstants", Napi::Function::New(env, AbiConstants));
}

}  // namespace bpfproxy

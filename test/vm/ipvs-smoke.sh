#!/usr/bin/env bash
# Minimal IPVS data path, run INSIDE the test guest (scripts/vm/run.sh) -- never on a host:
#
#   client ns 198.18.0.2 --veth-- 198.18.0.1 node ns 198.18.1.1 --veth-- 198.18.1.2 pod ns
#                                  kube-ipvs0 (dummy): 198.19.1.175
#                                  ipvs 198.19.1.175:80 rr -> 198.18.1.2:9376 (masq)
#
# The pod answers HTTP with its hostname; the client curls the VIP. Only 198.18.0.0/15
# (benchmarking range) addresses are used.
set -euo pipefail

if [[ "${BPFPROXY_IN_GUEST:-}" != 1 ]]; then
  echo "ipvs-smoke.sh: refusing to run outside the guest VM (BPFPROXY_IN_GUEST!=1)" >&2
  exit 2
fi

VIP=198.19.1.175
POD_IP=198.18.1.2
POD_PORT=9376

t0=$(date +%s%N)
ms() { echo $((($(date +%s%N) - t0) / 1000000)); }

modprobe -a ip_vs ip_vs_rr dummy veth
sysctl -qw net.ipv4.ip_forward=1

for ns in node pod client; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
done
# Forwarding is per network namespace; the node routes between client and pod.
ip netns exec node sysctl -qw net.ipv4.ip_forward=1

# Interfaces and routes first: ipvsadm -a -m wants a routable real server.
ip link add veth-pod netns node type veth peer name eth0 netns pod
ip link add veth-client netns node type veth peer name eth0 netns client
ip -n node addr add 198.18.1.1/24 dev veth-pod
ip -n node addr add 198.18.0.1/24 dev veth-client
ip -n node link set veth-pod up
ip -n node link set veth-client up
ip -n pod addr add "$POD_IP/24" dev eth0
ip -n pod link set eth0 up
ip -n pod route add default via 198.18.1.1 # replies must pass the director (masq)
ip -n client addr add 198.18.0.2/24 dev eth0
ip -n client link set eth0 up
ip -n client route add default via 198.18.0.1

# kube-proxy's layout: the VIP lives on a dummy device so the node accepts it locally.
ip -n node link add kube-ipvs0 type dummy
ip -n node addr add "$VIP/32" dev kube-ipvs0
ip -n node link set kube-ipvs0 up

ip netns exec node ipvsadm -A -t "$VIP:80" -s rr
ip netns exec node ipvsadm -a -t "$VIP:80" -r "$POD_IP:$POD_PORT" -m
echo "[$(ms) ms] ipvs configured"

# The pod: its own UTS namespace (hostname pod-a) serving its hostname over HTTP.
www=$(mktemp -d)
ip netns exec pod unshare --uts sh -c "hostname pod-a && hostname >'$www/index.html' &&
  exec busybox httpd -f -p '$POD_IP:$POD_PORT' -h '$www'" &
for _ in $(seq 100); do
  ip netns exec pod curl -sf -o /dev/null "http://$POD_IP:$POD_PORT/" && break
  sleep 0.1
done
echo "[$(ms) ms] pod serving"

body=$(ip netns exec client curl -sS --max-time 10 "http://$VIP/") || {
  echo "curl to the VIP failed" >&2
  ip netns exec node ipvsadm -Ln --stats >&2
  ip netns exec node ipvsadm -Lnc >&2
  exit 1
}
echo "[$(ms) ms] client got: $body"
ip netns exec node ipvsadm -Ln
ip netns exec node ipvsadm -Lnc
[[ "$body" == pod-a ]] || { echo "unexpected answer '$body' (want pod-a)" >&2; exit 1; }
echo "IPVS-SMOKE-OK"

// Where scripts/cluster/build.sh put the real etcd, kube-apiserver, kube-proxy and CoreDNS (tests and bench/).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BUILD_SCRIPT = fileURLToPath(new URL('../../scripts/cluster/build.sh', import.meta.url));

export interface Peers {
  dir: string;
  etcd: string;
  kubeApiserver: string;
  kubeProxy: string;
  coredns: string;
}

let cached: { peers?: Peers; reason?: string } | undefined;

/** The built peers, or why there are none. Never builds (make test does, before vitest). */
export function findPeers(): { peers?: Peers; reason?: string } {
  if (cached) return cached;
  let dir: string;
  try {
    dir = execFileSync(BUILD_SCRIPT, ['--dir'], { encoding: 'utf8' }).trim();
  } catch (e) {
    return (cached = { reason: `scripts/cluster/build.sh --dir failed: ${(e as Error).message}` });
  }
  const corednsDir = execFileSync(BUILD_SCRIPT, ['--coredns-dir'], { encoding: 'utf8' }).trim();
  const peers = { dir, etcd: join(dir, 'etcd'), kubeApiserver: join(dir, 'kube-apiserver'), kubeProxy: join(dir, 'kube-proxy'), coredns: join(corednsDir, 'coredns') };
  const missing = [peers.etcd, peers.kubeApiserver, peers.kubeProxy, peers.coredns].filter((p) => !existsSync(p));
  if (missing.length > 0) return (cached = { reason: `not built: ${missing.join(', ')} (run scripts/cluster/build.sh; needs Go >= 1.26)` });
  return (cached = { peers });
}

// The addresses of the namespace the proxy runs in, for `bpfproxy trace` (which answers
// "is this destination local?" as the kernel would). Syncs and render take the node's
// addresses from the Node object instead (model/frontends.ts NodeView).
import { networkInterfaces } from 'node:os';

export function localAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.push(a.address.replace(/%.*$/, ''));
  return out;
}

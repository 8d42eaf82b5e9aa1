// kube-proxy's ServicePortName rendering; the iptables chain hashes and all
// user-facing output use exactly this string.
import type { ServicePortName } from './types.js';

/** `ns/name:port`, or `ns/name` for an unnamed port (kube-proxy's ServicePortName.String()). */
export function servicePortNameString(n: Pick<ServicePortName, 'namespace' | 'name' | 'port'>): string {
  const base = `${n.namespace}/${n.name}`;
  return n.port === '' ? base : `${base}:${n.port}`;
}

/** Stable map key of a service port: the ServicePortName plus lowercase protocol. */
export function servicePortKey(n: ServicePortName): string {
  return `${servicePortNameString(n)}/${n.protocol.toLowerCase()}`;
}

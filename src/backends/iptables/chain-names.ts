// kube-proxy's chain names: prefix + first 16 chars of base32(sha256(...)), so that
// users, dashboards and scripts that know kube-proxy's chains find the same ones here.
import { createHash } from 'node:crypto';
import { servicePortNameString } from '../../model/service-port-name.js';
import type { ServicePortName } from '../../model/types.js';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 with padding, as Go's base32.StdEncoding (only the first 16 chars are used). */
export function base32(buf: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += '=';
  return out;
}

function hashName(s: string): string {
  return base32(createHash('sha256').update(s).digest()).slice(0, 16);
}

function svcBase(spn: ServicePortName): string {
  return servicePortNameString(spn) + spn.protocol.toLowerCase();
}

/** KUBE-SVC-/KUBE-EXT-/KUBE-FW-/KUBE-SVL- + hash(servicePortName + protocol). */
export function servicePortChain(prefix: 'KUBE-SVC-' | 'KUBE-EXT-' | 'KUBE-FW-' | 'KUBE-SVL-', spn: ServicePortName): string {
  return prefix + hashName(svcBase(spn));
}

/** KUBE-SEP- + hash(servicePortName + protocol + "ip:port"). */
export function endpointChain(spn: ServicePortName, endpoint: string): string {
  return 'KUBE-SEP-' + hashName(svcBase(spn) + endpoint);
}

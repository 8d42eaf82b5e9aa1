// `bpfproxy inspect` for IPVS: the virtual servers read back from the kernel, named after
// the service recorded in the ipset comments (IPVS itself has no place for a name).
import type { InspectRow } from '../../proxier/backend.js';
import { type SetContents, ipPortMember, nodePortMember, nodePortRole, setName } from './ipsets.js';
import { owned } from './plan.js';
import type { FrontendKind } from '../../model/frontends.js';
import { type VirtualServer, familyOf, hostPort } from './types.js';

const BY_SET: Array<[Parameters<typeof setName>[0], FrontendKind]> = [
  ['CLUSTER-IP', 'ClusterIP'],
  ['EXTERNAL-IP', 'ExternalIP'],
  ['EXTERNAL-IP-LOCAL', 'ExternalIP'],
  ['LOAD-BALANCER', 'LoadBalancer'],
];

export function inspectRows(vss: Map<string, VirtualServer>, sets: SetContents, bound: Set<string>, otherAddresses: Map<string, string>): InspectRow[] {
  const rows: InspectRow[] = [];
  for (const vs of vss.values()) {
    const fam = familyOf(vs.ip);
    let kind: FrontendKind | undefined;
    let service: string | undefined;
    for (const [role, k] of BY_SET) {
      const members = sets.get(setName(role, fam));
      const member = ipPortMember(vs.ip, vs.protocol, vs.port);
      if (members?.has(member)) {
        kind = k;
        service = members.get(member);
        break;
      }
    }
    if (!kind && owned(vs, { bound, otherAddresses, sets })) {
      kind = 'NodePort';
      service = sets.get(setName(nodePortRole(vs.protocol, false), fam))?.get(nodePortMember(vs.protocol, vs.ip, vs.port));
    }
    if (!kind) continue; // not ours
    rows.push({
      service: (service ?? '?').replace(/\/(TCP|UDP|SCTP)$/, ''),
      protocol: vs.protocol,
      frontend: hostPort(vs.ip, vs.port),
      kind: vs.persistence !== undefined ? `${kind} (${vs.scheduler}, persistent ${vs.persistence}s)` : `${kind} (${vs.scheduler})`,
      backends: vs.realServers.map((rs) => `${hostPort(rs.ip, rs.port)}${rs.weight === 0 ? ` (draining: weight 0, ${rs.activeConn}+${rs.inactConn} conns)` : ''}`),
    });
  }
  return rows;
}

// One virtual server, desired vs. current → the ipvsadm -R lines that turn one into the
// other. Pure. A real server that is no longer wanted drains first (graceful termination):
// weight 0 so the scheduler stops picking it, deleted on a later sync once it has no
// connections left. UDP and SCTP have no connection end to wait for: deleted at once.
import { addServiceLine, deleteRealServerLine, deleteServiceLine, realServerLine } from './ipvsadm.js';
import { type VirtualServer, rsKey } from './types.js';

export interface DiffOptions {
  /** false: remove unwanted real servers at once (rollback restores an exact earlier state). */
  graceful: boolean;
}

export function diffVirtualServer(desired: VirtualServer | undefined, current: VirtualServer | undefined, opts: DiffOptions = { graceful: true }): string[] {
  if (!desired) return current ? [deleteServiceLine(current)] : [];
  if (!current) return [addServiceLine(desired), ...desired.realServers.map((rs) => realServerLine(desired, rs))];
  const lines: string[] = [];
  if (desired.scheduler !== current.scheduler || desired.persistence !== current.persistence) lines.push(addServiceLine(desired, true));
  const have = new Map(current.realServers.map((rs) => [rsKey(rs), rs]));
  const want = new Set<string>();
  for (const rs of desired.realServers) {
    want.add(rsKey(rs));
    const cur = have.get(rsKey(rs));
    if (!cur) lines.push(realServerLine(desired, rs));
    else if (cur.weight !== rs.weight) lines.push(realServerLine(desired, rs, true));
  }
  for (const cur of current.realServers) {
    if (want.has(rsKey(cur))) continue;
    if (!opts.graceful || desired.protocol !== 'TCP' || cur.activeConn + cur.inactConn === 0) lines.push(deleteRealServerLine(desired, cur));
    else if (cur.weight !== 0) lines.push(realServerLine(desired, { ...cur, weight: 0 }, true));
  }
  return lines;
}


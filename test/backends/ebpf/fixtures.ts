// Shared setup for tests that load the real BPF objects: a per-run pin root, the loaded
// data plane, and helpers to seed/clear the maps.
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import * as abi from '../../../src/backends/ebpf/abi.js';
import { REPO_ROOT, addonAvailable } from '../../../src/backends/ebpf/libbpf.js';
import { loadDataplane, type Dataplane, type Maps } from '../../../src/backends/ebpf/loader.js';

export const OBJECT_DIR = path.join(REPO_ROOT, 'bpf/.output');

/** Why the BPF object/addon tests cannot run beyond the generic kernel checks. */
export function buildMissingReason(): string | undefined {
  if (!addonAvailable()) return 'native addon not built (npx node-gyp rebuild)';
  if (!existsSync(path.join(OBJECT_DIR, 'tc_lb.bpf.o'))) return 'BPF objects not built (make -C bpf)';
  return undefined;
}

export function newPinRoot(): string {
  return `/sys/fs/bpf/bpt${randomBytes(3).toString('hex').slice(0, 5)}`;
}

export async function openTestDataplane(): Promise<{ dp: Dataplane; pinRoot: string; dispose: () => void }> {
  const pinRoot = newPinRoot();
  const dp = await loadDataplane({ pinRoot, objectDir: OBJECT_DIR });
  return {
    dp,
    pinRoot,
    dispose: () => {
      dp.close();
      rmSync(pinRoot, { recursive: true, force: true });
    },
  };
}

/** The hooks of a file whose tests share one loaded data plane, its maps cleared before each
 * test; `set` receives it once loaded. A missing build fails the file (kernel tests are required). */
export function useTestDataplane(set: (dp: Dataplane) => void): void {
  let loaded: Awaited<ReturnType<typeof openTestDataplane>> | undefined;
  beforeAll(async () => {
    const missing = buildMissingReason();
    if (missing) throw new Error(missing);
    loaded = await openTestDataplane();
    set(loaded.dp);
  });
  afterAll(() => loaded?.dispose());
  beforeEach(async () => clearMaps(loaded!.dp.maps));
}

export interface SeedBackend { id: number; ip: string; port: number; flags?: number }
export interface SeedService {
  vip: string;
  port: number;
  proto: number;
  svcId: number;
  backends: SeedBackend[];
  flags?: number;
  affinityTimeout?: number;
}

/** Seeds a frontend in its family's maps (an IPv6 VIP: services6, backends6, rev_nat6). */
export function seedService(maps: Maps, s: SeedService): void {
  const v6 = s.vip.includes(':');
  const services = v6 ? maps.services6 : maps.services;
  const backends = v6 ? maps.backends6 : maps.backends;
  for (const b of s.backends)
    backends.update({ id: b.id }, { ip: b.ip, port: b.port, proto: s.proto, flags: b.flags ?? abi.BE_F_ACTIVE | abi.BE_F_ACTIVE_EXT, spId: s.svcId });
  (v6 ? maps.revNat6 : maps.revNat).update({ id: s.svcId }, { vip: s.vip, port: s.port });
  s.backends.forEach((b, i) =>
    services.update({ vip: s.vip, port: s.port, proto: s.proto, slot: i + 1 }, { backendId: b.id, svcId: s.svcId, count: 0, flags: 0, affinityTimeout: 0 }),
  );
  services.update(
    { vip: s.vip, port: s.port, proto: s.proto, slot: 0 },
    { backendId: s.svcId, svcId: s.svcId, count: s.backends.length, flags: s.flags ?? 0, affinityTimeout: s.affinityTimeout ?? 0 },
  );
}

export async function clearMaps(maps: Maps): Promise<void> {
  for (const m of [
    maps.services, maps.backends, maps.revNat, maps.conntrack, maps.affinity, maps.sockRev, maps.meta, maps.frag, maps.srcRange,
    maps.services6, maps.backends6, maps.revNat6, maps.conntrack6, maps.affinity6, maps.sockRev6,
  ] as const) {
    const entries = await (m as { dump(): Promise<Array<[unknown, unknown]>> }).dump();
    for (const [k] of entries) (m as { delete(k: unknown): boolean }).delete(k);
  }
  for (const [k] of await maps.maglev.dump()) maps.maglev.delete(k);
  maps.config.update({ id: 0 }, { hairpinAddr: '0.0.0.0', snatAddr: '0.0.0.0', snatPortMin: 0, snatPortMax: 0, nodeAddr: '0.0.0.0' });
  maps.config6.update({ id: 0 }, { hairpinAddr: '::', snatAddr: '::', nodeAddr: '::' });
  maps.maglevCfg.update({ id: 0 }, { tableSize: 0, flowSeed: 0 });
  maps.sockCfg.update({ id: 0 }, { netnsCookie: 0n });
}

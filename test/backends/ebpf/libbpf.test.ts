// The addon's contract: typed errors naming op + errno, batch ops with fallback, dump,
// interface listing and tc attach inside another network namespace.
import { writeFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as abi from '../../../src/backends/ebpf/abi.js';
import { BpfError, libbpf } from '../../../src/backends/ebpf/libbpf.js';
import type { Dataplane } from '../../../src/backends/ebpf/loader.js';
import { describeKernel } from '../../kernel-required.js';
import { buildMissingReason, openTestDataplane } from './fixtures.js';
import { sh } from './topology.js';
import { randomBytes } from 'node:crypto';

const missing = buildMissingReason();

describeKernel('native libbpf addon', () => {
  let dp: Dataplane;
  let dispose: () => void;
  const ns = `bpt${randomBytes(3).toString('hex').slice(0, 5)}-lib`;

  beforeAll(async () => {
    if (missing) throw new Error(missing);
    ({ dp, dispose } = await openTestDataplane());
    await sh('ip', ['netns', 'add', ns]);
    await sh('ip', ['-n', ns, 'link', 'add', 'bptlib0', 'type', 'veth', 'peer', 'name', 'bptlib1']);
  });
  afterAll(async () => {
    dispose?.();
    await sh('ip', ['netns', 'delete', ns]);
  });

  it('kernel errors are BpfError with op, errno and code', () => {
    let err: unknown;
    try {
      libbpf.getPinned('/sys/fs/bpf/bpt-does-not-exist');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BpfError);
    expect(err).toMatchObject({ op: 'get pinned /sys/fs/bpf/bpt-does-not-exist', errno: 2, code: 'ENOENT' });
  });

  it('a load failure rejects the Promise with a BpfError naming the op', async () => {
    const bad = '/tmp/bpt-not-an-elf.o';
    writeFileSync(bad, 'not an ELF');
    try {
      await expect(libbpf.openLoad(bad)).rejects.toMatchObject({ name: 'BpfError', op: `open ${bad}` });
    } finally {
      rmSync(bad, { force: true });
    }
  });

  it('lookup/update/delete, batch update/delete and dump', async () => {
    const m = dp.maps.backends;
    const entries = Array.from({ length: 100 }, (_, i) => [{ id: 1000 + i }, { ip: `198.18.1.${i}`, port: 9376, proto: 6, flags: abi.BE_F_ACTIVE, spId: 1 }] as const);
    const r = await m.updateBatch(entries);
    expect(r.done).toBe(100);
    expect(m.lookup({ id: 1042 })).toMatchObject({ ip: '198.18.1.42' });
    expect((await m.dump()).length).toBe(100);
    const d = await m.deleteBatch([...entries.map(([k]) => k), { id: 99999 }]);
    expect(d.done).toBe(101); // a missing key does not fail the batch
    expect(m.lookup({ id: 1042 })).toBeUndefined();
    expect(m.delete({ id: 1 })).toBe(false);
  });

  it('a map update that cannot fit names the op', () => {
    // lb_config is an ARRAY of one entry: index 1 is out of range (E2BIG).
    expect(() => dp.maps.config.update({ id: 1 }, { hairpinAddr: '0.0.0.0', snatAddr: '0.0.0.0', snatPortMin: 0, snatPortMax: 0, nodeAddr: '0.0.0.0' })).toThrow(BpfError);
    try {
      dp.maps.config.update({ id: 1 }, { hairpinAddr: '0.0.0.0', snatAddr: '0.0.0.0', snatPortMin: 0, snatPortMax: 0, nodeAddr: '0.0.0.0' });
    } catch (e) {
      expect(e).toMatchObject({ op: 'map update', code: 'E2BIG' });
    }
  });

  it('creates maps of its own; the maglev map-in-map takes inner arrays of any size, but only BPF_F_INNER_MAP ones', () => {
    const make = (n: number, flags: number) =>
      libbpf.mapCreate({ type: abi.BPF_MAP_TYPE_ARRAY, name: 'bpt_inner', keySize: 4, valueSize: 4, maxEntries: n, flags });
    const fds = [make(251, abi.MAGLEV_INNER_FLAGS), make(16381, abi.MAGLEV_INNER_FLAGS), make(251, 0)];
    try {
      dp.maps.maglev.update({ id: 1 }, { id: fds[0]! });
      dp.maps.maglev.update({ id: 2 }, { id: fds[1]! });
      expect(() => dp.maps.maglev.update({ id: 3 }, { id: fds[2]! })).toThrow(expect.objectContaining({ op: 'map update', code: 'EINVAL' }));
      // Read back, an outer entry names the inner map by id.
      const inner = libbpf.mapFdById(dp.maps.maglev.lookup({ id: 2 })!.id);
      expect(libbpf.mapInfo(inner)).toMatchObject({ name: 'bpt_inner', maxEntries: 16381 });
      libbpf.closeFd(inner);
      expect(() => libbpf.mapFdById(0x7ffffff0)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    } finally {
      fds.forEach((fd) => libbpf.closeFd(fd));
      dp.maps.maglev.delete({ id: 1 });
      dp.maps.maglev.delete({ id: 2 });
    }
  });

  it('lists interfaces and attaches/replaces/detaches tc inside another netns', async () => {
    const path = `/run/netns/${ns}`;
    const ifs = await libbpf.listInterfaces(path);
    expect(ifs.map((i) => [i.name, i.loopback])).toEqual(expect.arrayContaining([['lo', true], ['bptlib0', false], ['bptlib1', false]]));
    const t = { netns: path, ifname: 'bptlib0', direction: 'ingress' as const, handle: abi.TC_HANDLE, priority: abi.TC_PRIORITY };
    const a1 = await libbpf.tcAttach(t, dp.tc.fd);
    const a2 = await libbpf.tcAttach(t, dp.tc.fd); // idempotent
    expect(a2.progId).toBe(a1.progId);
    expect(await libbpf.tcQuery(t)).toBe(a1.progId);
    // Our own netns has no such interface: the netns is really entered.
    await expect(libbpf.tcAttach({ ...t, netns: undefined }, dp.tc.fd)).rejects.toMatchObject({ code: 'ENODEV' });
    expect(await libbpf.tcDetach(t)).toBe(true);
    expect(await libbpf.tcDetach(t)).toBe(false);
    expect(await libbpf.tcQuery(t)).toBeNull();
    await expect(libbpf.tcAttach({ ...t, ifname: 'bpt-nope' }, dp.tc.fd)).rejects.toMatchObject({ name: 'BpfError', code: 'ENODEV' });
    // Detach paths: a vanished interface or qdisc means "nothing attached", not an error.
    expect(await libbpf.tcDetach({ ...t, ifname: 'bpt-nope' })).toBe(false);
    expect(await libbpf.tcHookDestroy({ netns: path, ifname: 'bptlib0' })).toBe(true);
    expect(await libbpf.tcHookDestroy({ netns: path, ifname: 'bptlib0' })).toBe(false);
    expect(await libbpf.tcHookDestroy({ netns: path, ifname: 'bpt-nope' })).toBe(false);
  });

  it('BPF_PROG_TEST_RUN reports retval, output and duration', async () => {
    const r = await libbpf.testRun(dp.tc.fd, Buffer.alloc(64), { repeat: 1000 });
    expect(r.retval).toBe(0);
    expect(r.dataOut.length).toBe(64);
    expect(r.durationNs).toBeGreaterThan(0);
  });
}, { btf: true });

// Where xdp_lb goes and how: the external-interface choice (pure), and the attacher against
// real interfaces of a namespace of the test's own: attach, replace in place by a restarted
// controller, a mode the device refuses (said, left to tc), detach by --cleanup.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Writable } from 'node:stream';
import { libbpf } from '../../../src/backends/ebpf/libbpf.js';
import { loadDataplane, type Dataplane } from '../../../src/backends/ebpf/loader.js';
import { XdpAttacher, detachXdpEverywhere, externalInterfaces, parseXdpSetting, xdpAttachments, type LinkAddrs } from '../../../src/backends/ebpf/xdp-attach.js';
import { formatXdpAttachments } from '../../../src/cli/inspect.js';
import { describeKernel } from '../../kernel-required.js';
import { createNetns, deleteNetns, ip, newRunPrefix } from '../../harness/netns.js';
import { OBJECT_DIR, buildMissingReason, newPinRoot } from './fixtures.js';
import { rmSync } from 'node:fs';

describe('external interfaces (pure)', () => {
  // The shape `ip -j addr show` prints (iproute2 6.1), trimmed to the fields used.
  const links: LinkAddrs[] = [
    { ifindex: 1, ifname: 'lo', link_type: 'loopback', flags: ['LOOPBACK', 'UP'], addr_info: [{ family: 'inet', local: '127.0.0.1' }] },
    { ifindex: 2, ifname: 'eth0', link_type: 'ether', flags: ['UP'], addr_info: [{ family: 'inet', local: '198.19.200.1' }, { family: 'inet6', local: '2001:db8:19:200::1' }] },
    { ifindex: 3, ifname: 'veth1', link_type: 'ether', flags: ['UP'], addr_info: [{ family: 'inet', local: '198.18.1.1' }] },
    { ifindex: 4, ifname: 'tunl0', link_type: 'ipip', flags: ['UP'], addr_info: [{ family: 'inet', local: '198.19.200.1' }] },
    { ifindex: 5, ifname: 'eth1', link_type: 'ether', flags: ['UP'], addr_info: [{ family: 'inet', local: '198.19.201.1' }] },
    { ifindex: 6, ifname: 'eth2', link_type: 'ether', flags: ['UP'] },
    { ifindex: 7, ifname: 'veth9', link_type: 'ether', flags: ['UP'], linkinfo: { info_kind: 'veth' }, addr_info: [{ family: 'inet', local: '198.19.202.1' }] },
  ];

  it('Ethernet interfaces holding a Node IPv4 address; not pod veths (gateway address), not L3 tunnels, not loopback', () => {
    expect(externalInterfaces(links, ['198.19.200.1', '2001:db8:19:200::1'])).toEqual([{ name: 'eth0', index: 2, veth: false }]);
    // A veth holding a node address is external too, marked so --xdp=auto can leave it to tc.
    expect(externalInterfaces(links, ['198.19.202.1'])).toEqual([{ name: 'veth9', index: 7, veth: true }]);
    expect(externalInterfaces(links, ['198.19.200.1', '198.19.201.1']).map((l) => l.name)).toEqual(['eth0', 'eth1']);
    expect(externalInterfaces(links, ['127.0.0.1'])).toEqual([]);
    expect(externalInterfaces(links, [])).toEqual([]);
  });

  it('--xdp takes auto, native, generic or off, and names itself otherwise', () => {
    expect(['auto', 'native', 'generic', 'off'].map(parseXdpSetting)).toEqual(['auto', 'native', 'generic', 'off']);
    expect(() => parseXdpSetting('driver')).toThrow('--xdp: want auto, native, generic, off, got "driver"');
  });

  it('inspect --stats lists each interface with its mode, or says why there is none', () => {
    expect(formatXdpAttachments([{ interface: 'eth0', mode: 'native', progId: 42 }])).toBe('XDP fast path (xdp_lb)\n  eth0             native   prog id 42\n');
    expect(formatXdpAttachments([])).toMatch(/^XDP fast path \(xdp_lb\): not attached \(--xdp=off, no external interface, or the mode was refused/);
  });
});

describeKernel('XdpAttacher on real interfaces', () => {
  const ns = `${newRunPrefix()}-xa`;
  const netns = `/run/netns/${ns}`;
  const pinRoots: string[] = [];
  const loaded: Dataplane[] = [];
  const lines: string[] = [];
  const log = pino({ level: 'info' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));

  const load = async () => {
    const pinRoot = newPinRoot();
    pinRoots.push(pinRoot);
    const dp = await loadDataplane({ pinRoot, objectDir: OBJECT_DIR });
    loaded.push(dp);
    return dp;
  };

  beforeAll(async () => {
    const missing = buildMissingReason();
    if (missing) throw new Error(missing);
    await createNetns(ns);
    await ip(['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'peer0']);
    await ip(['-n', ns, 'link', 'add', 'pod0', 'type', 'veth', 'peer', 'name', 'pod0p']);
    await ip(['-n', ns, 'link', 'add', 'br0', 'type', 'bridge']); // no native XDP in the bridge driver
    for (const d of ['eth0', 'peer0', 'pod0', 'pod0p', 'br0']) await ip(['-n', ns, 'link', 'set', d, 'up']);
    await ip(['-n', ns, 'addr', 'add', '198.19.200.1/24', 'dev', 'eth0']);
    await ip(['-n', ns, 'addr', 'add', '198.18.1.1/32', 'dev', 'pod0']);
    await ip(['-n', ns, 'addr', 'add', '198.19.201.1/24', 'dev', 'br0']);
  });
  afterAll(async () => {
    for (const dp of loaded) dp.close();
    await deleteNetns(ns);
    for (const p of pinRoots) rmSync(p, { recursive: true, force: true });
  });

  it('attaches natively on the external interface only; a restarted controller replaces it in place; --cleanup detaches it', async () => {
    const dp1 = await load();
    const a1 = new XdpAttacher(dp1.xdp.fd, 'native', log, netns);
    expect(await a1.ensure(['198.19.200.1'])).toEqual({ attached: ['eth0'], failed: [] });
    const id1 = libbpf.progInfo(dp1.xdp.fd).id;
    expect(await xdpAttachments(netns)).toEqual([{ interface: 'eth0', mode: 'native', progId: id1 }]);
    // Nothing to do a second time.
    expect(await a1.ensure(['198.19.200.1'])).toEqual({ attached: [], failed: [] });

    // A new controller with its own program: one attach that swaps the program (the
    // interface never has none in between: the kernel replaces it under one netlink call).
    const dp2 = await load();
    const a2 = new XdpAttacher(dp2.xdp.fd, 'native', log, netns);
    expect(await a2.ensure(['198.19.200.1'])).toEqual({ attached: ['eth0'], failed: [] });
    const id2 = libbpf.progInfo(dp2.xdp.fd).id;
    expect(id2).not.toBe(id1);
    expect(await xdpAttachments(netns)).toEqual([{ interface: 'eth0', mode: 'native', progId: id2 }]);

    // Restarted with --xdp=generic: the native one goes, the generic one comes.
    const a3 = new XdpAttacher(dp2.xdp.fd, 'generic', log, netns);
    expect((await a3.ensure(['198.19.200.1'])).attached).toEqual(['eth0']);
    expect(await xdpAttachments(netns)).toEqual([{ interface: 'eth0', mode: 'generic', progId: id2 }]);

    expect(await detachXdpEverywhere(netns)).toEqual(['eth0']);
    expect(await xdpAttachments(netns)).toEqual([]);
  });

  it('--xdp=auto leaves a veth external interface to tc, said once; native on a non-veth device', async () => {
    const dp = await load();
    lines.length = 0;
    const a = new XdpAttacher(dp.xdp.fd, 'auto', log, netns);
    expect(a.mode).toBe('native');
    // eth0 is a veth: skipped; br0 (a bridge: no native XDP) is tried natively and refused.
    expect(await a.ensure(['198.19.200.1', '198.19.201.1'])).toEqual({ attached: [], failed: ['br0'] });
    expect(await xdpAttachments(netns)).toEqual([]);
    const said = () => lines.map((l) => JSON.parse(l) as { msg: string; interface?: string }).filter((l) => l.msg.startsWith('--xdp=auto: no XDP on eth0: veth'));
    expect(said()).toHaveLength(1);
    await a.ensure(['198.19.200.1', '198.19.201.1'], { verify: true });
    expect(said()).toHaveLength(1);
    expect(await xdpAttachments(netns)).toEqual([]);
  });

  it('a mode the device refuses is logged once with interface, mode and kernel error; the interface stays with tc', async () => {
    const dp = await load();
    lines.length = 0;
    const a = new XdpAttacher(dp.xdp.fd, 'native', log, netns);
    const r = await a.ensure(['198.19.201.1']);
    expect(r).toEqual({ attached: [], failed: ['br0'] });
    const warn = lines.map((l) => JSON.parse(l) as { level: number; msg: string; interface?: string; mode?: string; err?: string }).filter((l) => l.level === 40);
    expect(warn).toHaveLength(1);
    expect(warn[0]).toMatchObject({ interface: 'br0', mode: 'native' });
    expect(warn[0]!.msg).toMatch(/^XDP native mode is not available on br0: E[A-Z]+ .*; tc_lb alone serves it/);
    expect(a.status()).toEqual([expect.objectContaining({ interface: 'br0', mode: 'none', progId: 0 })]);
    // Said once: the next scan does not retry (or log) until a verify.
    expect(await a.ensure(['198.19.201.1'])).toEqual({ attached: [], failed: [] });
    expect(lines.filter((l) => l.includes('"level":40'))).toHaveLength(1);
    // Generic XDP works on any device.
    const g = new XdpAttacher(dp.xdp.fd, 'generic', log, netns);
    expect((await g.ensure(['198.19.201.1'])).attached).toEqual(['br0']);
    await detachXdpEverywhere(netns);
  });
});

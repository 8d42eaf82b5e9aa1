// The IPVS backend against a real IPVS kernel. Runs ONLY inside the throwaway guest (Debian
// 6.1 under qemu), where test/conformance/ipvs.test.ts starts it together with the suite; the
// guest's root namespace is the node (nothing of the host is touched), pods and an external
// client are namespaces on veths. Covers what the shared suite does not: NodePort/externalIP,
// graceful termination, schedulers, faults (missing scheduler module, address conflict,
// ipvsadm failure), adoption on restart and cleanup.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IpvsBackend } from '../../../src/backends/ipvs/index.js';
import { recentTools, run, toolRuns } from '../../../src/util/exec.js';
import { eventually, requests, tally } from '../../harness/client.js';
import { createNetns, deleteNetns, ip, newRunPrefix, spawnInNetns } from '../../harness/netns.js';
import { inGuest } from '../../vm/guest.js';
import { featureTable } from '../../fixtures/service-table.js';
import { endpoint, entry, seed, table } from './fixtures.js';
import type { ChildProcess } from 'node:child_process';
import type { ServicePortEntry } from '../../../src/model/types.js';

const POD_SERVER = new URL('../../harness/pod-server.mjs', import.meta.url).pathname;
const PODS = [
  ['pod-a', '198.18.1.2'],
  ['pod-b', '198.18.1.3'],
  ['pod-c', '198.18.1.4'],
] as const;
const NODE_IP = '198.19.200.1';

async function sh(cmd: string): Promise<string> {
  return (await run('bash', ['-c', cmd], { timeoutMs: 30_000 })).stdout;
}

function kernelSuite(): void {
  const prefix = newRunPrefix();
  const namespaces: string[] = [];
  const servers: ChildProcess[] = [];
  const ns = (n: string) => `${prefix}-${n}`;
  const backend = new IpvsBackend({ clusterCIDRs: ['198.18.0.0/16'] });
  const sync = (...svcs: ServicePortEntry[]) => backend.sync({ table: table(...svcs) }, { full: false });

  beforeAll(async () => {
    await sh('sysctl -qw net.ipv4.ip_forward=1');
    let i = 0;
    for (const [name, podIP] of PODS) {
      await createNetns(ns(name));
      namespaces.push(ns(name));
      const host = `${prefix}p${i++}`;
      await ip(['link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns(name)]);
      await ip(['addr', 'add', '198.18.1.1/32', 'dev', host]);
      await ip(['link', 'set', host, 'up']);
      await ip(['route', 'add', `${podIP}/32`, 'dev', host]);
      await ip(['-n', ns(name), 'addr', 'add', `${podIP}/32`, 'dev', 'eth0']);
      await ip(['-n', ns(name), 'link', 'set', 'eth0', 'up']);
      await ip(['-n', ns(name), 'route', 'add', '198.18.1.1/32', 'dev', 'eth0']);
      await ip(['-n', ns(name), 'route', 'add', 'default', 'via', '198.18.1.1']);
      servers.push(await spawnInNetns(ns(name), process.execPath, [POD_SERVER, '--name', name], 'ready'));
    }
    // The external client: outside the cluster CIDR, routes the external range via the node.
    await createNetns(ns('ext'));
    namespaces.push(ns('ext'));
    await ip(['link', 'add', `${prefix}x`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns('ext')]);
    await ip(['addr', 'add', `${NODE_IP}/24`, 'dev', `${prefix}x`]);
    await ip(['link', 'set', `${prefix}x`, 'up']);
    await ip(['-n', ns('ext'), 'addr', 'add', '198.19.200.100/24', 'dev', 'eth0']);
    await ip(['-n', ns('ext'), 'link', 'set', 'eth0', 'up']);
    await ip(['-n', ns('ext'), 'route', 'add', '198.19.0.0/16', 'via', NODE_IP]);
  });

  afterAll(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await backend.cleanup().catch(() => undefined);
    for (const n of namespaces.reverse()) await deleteNetns(n);
  });

  it('seed: VIP on kube-ipvs0, an rr virtual server with three masqueraded pods, sets, rules, sysctl; all pods answer', async () => {
    await sync(seed());
    expect(await sh('ip -br addr show dev kube-ipvs0')).toMatch(/198\.19\.1\.175\/32/);
    const list = await sh('ipvsadm -Ln');
    expect(list).toMatch(/TCP {2}198\.19\.1\.175:80 rr/);
    expect(list.match(/-> 198\.18\.1\.[234]:9376\s+Masq\s+1/g)).toHaveLength(3);
    expect(await sh('ipset list KUBE-CLUSTER-IP')).toContain('198.19.1.175,tcp:80 comment "default/hostnames/TCP"');
    expect(await sh('iptables-save -t nat')).toContain('-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE');
    expect(readFileSync('/proc/sys/net/ipv4/vs/conntrack', 'utf8').trim()).toBe('1');
    const { bodies } = tally(await requests(ns('ext'), '198.19.1.175:80', { count: 9 }));
    expect([...bodies.keys()].sort()).toEqual(['pod-a', 'pod-b', 'pod-c']);
    const rows = await backend.inspect();
    expect(rows).toContainEqual(expect.objectContaining({ service: 'default/hostnames', frontend: '198.19.1.175:80', kind: 'ClusterIP (rr)' }));
  });

  it('a second sync with nothing changed and a new backend instance (restart) change nothing', async () => {
    const spy = ipvsadmSpy();
    try {
      await sync(seed());
      await new IpvsBackend({ clusterCIDRs: ['198.18.0.0/16'] }).sync({ table: table(seed()) }, { full: true });
      expect(spy.calls().filter((c) => c.startsWith('-R'))).toEqual([]);
    } finally {
      spy.restore();
    }
  });

  it('NodePort on the node address and an externalIP answer an external client (masqueraded)', async () => {
    const svc = entry('default', 'np', '', '198.19.1.180', 80, [endpoint('198.18.1.2', 9376), endpoint('198.18.1.3', 9376)], { nodePort: 30080, externalIPs: ['198.19.250.10'] });
    await sync(seed(), svc);
    expect(await sh('ipvsadm -Ln')).toMatch(new RegExp(`TCP {2}${NODE_IP.replaceAll('.', '\\.')}:30080 rr`));
    for (const target of [`${NODE_IP}:30080`, '198.19.250.10:80']) {
      const { bodies, errors } = tally(await requests(ns('ext'), target, { count: 6 }));
      expect([...bodies.keys()].sort(), target).toEqual(['pod-a', 'pod-b']);
      expect(errors.size).toBe(0);
    }
    const [r] = await requests(ns('ext'), `${NODE_IP}:30080`, { path: '/clientip' });
    expect(r?.body).toBe('198.18.1.1'); // masqueraded to the node's address toward the pod
    await sync(seed());
    expect(await sh('ipvsadm -Ln')).not.toContain(':30080');
    expect(await sh('ipset list KUBE-NODE-PORT-TCP')).not.toMatch(/^30080/m);
    expect(await sh('ip -br addr show dev kube-ipvs0')).not.toContain('198.19.250.10');
  });

  it('no endpoints: refused at once', async () => {
    await sync(seed(), entry('default', 'empty', '', '198.19.1.178', 80, []));
    const [r] = await requests(ns('ext'), '198.19.1.178:80', { timeoutMs: 3000 });
    expect(r?.error).toBe('refused'); // a REJECT's RST: a dropped SYN would end in 'timeout'
  });

  it('adding or removing one service costs 6 process starts: 3 reads (at once), ip -batch, ipset restore, ipvsadm -R', async () => {
    // Every process start costs 0.3–0.7 s under qemu TCG: this count is what a sync costs there.
    // From an empty node, so no set entry of another service changes with it.
    const one = entry('default', 'counted', '', '198.19.1.183', 80, [endpoint('198.18.1.4', 9376)], { externalIPs: ['198.19.250.11'] });
    await sync();
    const counted = async (...svcs: ServicePortEntry[]) => {
      const before = toolRuns();
      const t0 = Date.now();
      await sync(...svcs);
      console.log(`ipvs sync of ${svcs.length} service(s): ${toolRuns() - before} process starts (${recentTools(toolRuns() - before).join(', ')}), ${Date.now() - t0} ms`);
      return toolRuns() - before;
    };
    const add = await counted(one);
    expect(tally(await requests(ns('ext'), '198.19.250.11:80', { count: 2 })).bodies.get('pod-c')).toBe(2);
    const remove = await counted();
    expect(await sh('ip -br addr show dev kube-ipvs0')).not.toMatch(/198\.19\.(1\.183|250\.11)\//);
    const noop = await counted();
    expect({ add, remove, noop }).toEqual({ add: 6, remove: 6, noop: 3 }); // a no-op sync: the reads only
  });

  it('graceful termination: a removed TCP pod with an open connection drains at weight 0, then goes; UDP goes at once', async () => {
    const one = (ips: string[]) => entry('default', 'drain', '', '198.19.1.181', 80, ips.map((i) => endpoint(i, 9376)));
    await sync(one(['198.18.1.2']));
    // Hold one connection open to pod-a, then replace pod-a by pod-b.
    const holder = spawn('ip', ['netns', 'exec', ns('ext'), process.execPath, '-e', HOLD, '198.19.1.181', '80'], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((res) => holder.stdout!.once('data', () => res()));
    await sync(one(['198.18.1.3']));
    const list = await sh('ipvsadm -Ln -t 198.19.1.181:80');
    expect(list).toMatch(/198\.18\.1\.2:9376\s+Masq\s+0\s+1/);
    expect(list).toMatch(/198\.18\.1\.3:9376\s+Masq\s+1/);
    expect(tally(await requests(ns('ext'), '198.19.1.181:80', { count: 4 })).bodies.get('pod-b')).toBe(4);
    // Close with a RST (IPVS then holds the entry ~10 s in CLOSE, not 120 s in TIME_WAIT).
    holder.stdin!.end('x');
    await new Promise((res) => holder.once('exit', res));
    await eventually(async () => {
      await sync(one(['198.18.1.3']));
      expect(await sh('ipvsadm -Ln -t 198.19.1.181:80')).not.toContain('198.18.1.2:9376');
    }, 30_000, 1000);

    const udp = (ips: string[]) => entry('default', 'dns', '', '198.19.1.182', 53, ips.map((i) => endpoint(i, 9376)), { protocol: 'UDP' });
    await sync(udp(['198.18.1.2']));
    expect(tally(await requests(ns('ext'), '198.19.1.182:53', { proto: 'udp', timeoutMs: 2000 })).bodies.get('pod-a')).toBe(1);
    await sync(udp(['198.18.1.3']));
    expect(await sh('ipvsadm -Ln -u 198.19.1.182:53')).not.toContain('198.18.1.2:9376');
  }, 90_000);

  it('schedulers: each of wrr lc wlc sh dh sed nq mh is programmed as asked', async () => {
    for (const s of ['wrr', 'lc', 'wlc', 'sh', 'dh', 'sed', 'nq', 'mh']) {
      const b = new IpvsBackend({ scheduler: s, clusterCIDRs: ['198.18.0.0/16'] });
      await b.sync({ table: table(seed()) }, { full: false });
      expect(b.failures).toEqual(new Map());
      expect(await sh('ipvsadm -Ln -t 198.19.1.175:80'), s).toMatch(new RegExp(`198\\.19\\.1\\.175:80 ${s}`));
    }
    await sync(seed());
    expect(await sh('ipvsadm -Ln -t 198.19.1.175:80')).toMatch(/198\.19\.1\.175:80 rr/);
  });

  it('missing scheduler module: a clear error naming the service; existing services left as they were', async () => {
    const dir = `/lib/modules/${release()}/kernel/net/netfilter/ipvs`;
    const hidden = join(tmpdir(), 'ip_vs_ovf.ko');
    // The guest's root is a throwaway overlay (and /tmp another filesystem: copy, not rename).
    copyFileSync(join(dir, 'ip_vs_ovf.ko'), hidden);
    rmSync(join(dir, 'ip_vs_ovf.ko'));
    try {
      const b = new IpvsBackend({ scheduler: 'ovf', clusterCIDRs: ['198.18.0.0/16'] });
      const before = await sh('ipvsadm -Ln -t 198.19.1.175:80');
      const fresh = entry('default', 'fresh', '', '198.19.1.183', 80, [endpoint('198.18.1.2', 9376)]);
      await b.sync({ table: table(seed(), fresh) }, { full: true });
      expect(b.failures.get(fresh.key)).toMatch(/^service default\/fresh\/TCP: IPVS scheduler ovf is unavailable \(modprobe ip_vs_ovf failed/);
      expect(b.failures.get(seed().key)).toMatch(/^service default\/hostnames\/TCP: IPVS scheduler ovf/);
      expect(await sh('ipvsadm -Ln -t 198.19.1.175:80')).toBe(before);
      expect(await sh('ipvsadm -Ln')).not.toContain('198.19.1.183');
      expect(await sh('ip -br addr show dev kube-ipvs0')).not.toContain('198.19.1.183');
    } finally {
      copyFileSync(hidden, join(dir, 'ip_vs_ovf.ko'));
    }
  });

  it('address conflict: a ClusterIP already on another interface fails by name, the others are programmed', async () => {
    await ip(['addr', 'add', '198.19.1.250/32', 'dev', 'lo']);
    try {
      const clash = entry('default', 'clash', '', '198.19.1.250', 80, [endpoint('198.18.1.2', 9376)]);
      const ok = entry('default', 'fine', '', '198.19.1.184', 80, [endpoint('198.18.1.4', 9376)]);
      const r = await sync(seed(), clash, ok);
      // The same shape as every backend's partial failure: [service-port key, reason].
      expect(r.failed).toEqual([[clash.key, 'service default/clash/TCP: ClusterIP 198.19.1.250 is already an address of interface lo; refusing to bind it to kube-ipvs0']]);
      expect(await sh('ipvsadm -Ln')).not.toContain('198.19.1.250');
      expect(tally(await requests(ns('ext'), '198.19.1.184:80')).bodies.get('pod-c')).toBe(1);
    } finally {
      await ip(['addr', 'del', '198.19.1.250/32', 'dev', 'lo']);
    }
  });

  it('ipvsadm failing for one service: that one is rolled back and named, the others are applied', async () => {
    // A wrapper ipvsadm that applies every line but fails those naming real server 198.18.1.99.
    const spy = ipvsadmSpy('198.18.1.99');
    try {
      const bad = entry('default', 'bad', '', '198.19.1.185', 80, [endpoint('198.18.1.99', 9376)]);
      const good = entry('default', 'good', '', '198.19.1.186', 80, [endpoint('198.18.1.3', 9376)]);
      await sync(seed(), bad, good);
      expect(backend.failures.get(bad.key)).toMatch(/^service default\/bad\/TCP: ipvsadm -R failed \(injected failure\)/);
      const list = await sh('/usr/sbin/ipvsadm -Ln');
      expect(list).not.toContain('198.19.1.185'); // the -A that did apply was rolled back
      expect(list).toMatch(/198\.19\.1\.186:80 rr\n\s+-> 198\.18\.1\.3:9376/);
      expect(await sh('ip -br addr show dev kube-ipvs0')).not.toContain('198.19.1.185');
      expect(await sh('ipset list KUBE-CLUSTER-IP')).not.toContain('198.19.1.185');
    } finally {
      spy.restore();
    }
    await sync(seed());
    expect(backend.failures.size).toBe(0);
  });

  it('render = what a first sync runs: on an empty node, the sync\'s tool runs are render()\'s, in order, each with the same stdin', async () => {
    // `bpfproxy render` is the plan against an empty kernel: the feature table (NodePort with
    // eTP Local, external and LB IPs, UDP, affinity, no endpoints, terminating endpoints).
    await backend.cleanup();
    const opts = { clusterCIDRs: ['198.18.0.0/16'], nodePortAddresses: ['198.19.200.0/24'] };
    const first = new IpvsBackend(opts);
    const spy = toolSpy(['ip', 'ipset', 'ipvsadm', 'iptables-restore', 'ip6tables-restore']);
    try {
      expect((await first.sync({ table: featureTable() }, { full: true })).failed).toEqual([]);
    } finally {
      spy.restore();
    }
    const rendered = new IpvsBackend(opts).render(featureTable());
    expect(rendered).toContain('\n-A -t 198.19.200.1:30080 -s rr\n'); // the Node object's address ∩ --nodeport-addresses
    // The reads (state, and iptables-save, not spied) are not in render: it has no kernel.
    const reads = new Set(['ip -j addr show', 'ipvsadm -Ln --exact', 'ipset save']);
    const writes = spy.runs().filter((r) => !reads.has(r.argv));
    expect(writes.map((r) => `# ${r.argv}\n${r.stdin}`).join('\n')).toBe(rendered);
    await first.cleanup();
  });

  it('cleanup removes virtual servers, kube-ipvs0, sets and chains, and leaves a foreign virtual server alone', async () => {
    await sh('ipvsadm -A -t 198.19.9.9:80 -s rr');
    await sync(seed(), entry('default', 'np', '', '198.19.1.180', 80, [endpoint('198.18.1.2', 9376)], { nodePort: 30080 }));
    await backend.cleanup();
    const list = await sh('ipvsadm -Ln');
    expect(list).toContain('198.19.9.9:80');
    expect(list).not.toMatch(/198\.19\.1\.|:30080/);
    expect(await run('ip', ['link', 'show', 'kube-ipvs0'], { allowFailure: true }).then((r) => r.code)).not.toBe(0);
    expect(await sh('ipset list -n')).not.toMatch(/^KUBE-/m);
    expect(await sh('iptables-save; ip6tables-save')).not.toMatch(/KUBE-/);
    await sh('ipvsadm -D -t 198.19.9.9:80');
  });
}

/** Node script: open one TCP connection, print once connected, reset it on stdin input. */
const HOLD = `const s=require('net').connect(+process.argv[2], process.argv[1], () => process.stdout.write('up\\n'));
process.stdin.on('data', () => { s.resetAndDestroy(); setTimeout(() => process.exit(0), 100); });`;

/**
 * Puts wrappers for `tools` first on PATH that record each run (its argv and stdin, one file
 * per run, named so that they sort in start order) and then run the real tool.
 */
function toolSpy(tools: string[]): { runs(): Array<{ argv: string; stdin: string }>; restore(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tool-spy-'));
  const log = join(dir, 'runs');
  mkdirSync(log);
  for (const tool of tools) {
    const real = execFileSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
    // $(cat; echo .) keeps stdin's trailing newlines; one printf per record.
    writeFileSync(
      join(dir, tool),
      `#!/bin/bash
input=$(cat; echo .); input=\${input%.}
printf '%s\\n%s' "${tool} $*" "$input" >"${log}/$(date +%s%N)-$$"
printf '%s' "$input" | exec ${real} "$@"
`,
    );
    chmodSync(join(dir, tool), 0o755);
  }
  const oldPath = process.env.PATH;
  process.env.PATH = `${dir}:${oldPath}`;
  return {
    runs: () =>
      readdirSync(log)
        .sort()
        .map((f) => {
          const text = readFileSync(join(log, f), 'utf8');
          const nl = text.indexOf('\n');
          return { argv: text.slice(0, nl), stdin: text.slice(nl + 1) };
        }),
    restore: () => {
      process.env.PATH = oldPath;
    },
  };
}

/**
 * Puts a logging `ipvsadm` wrapper first on PATH. With `failRs`, lines naming that real server
 * are rejected after the other lines were applied (as ipvsadm -R does on a bad line).
 */
function ipvsadmSpy(failRs?: string): { calls(): string[]; restore(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'ipvsadm-spy-'));
  const log = join(dir, 'calls.log');
  writeFileSync(
    join(dir, 'ipvsadm'),
    `#!/bin/bash
echo "$*" >>${log}
if [[ "$1" == -R ]]; then
  input=$(cat)
  ${failRs ? `bad=$(grep -F -- '-r ${failRs}:' <<<"$input")
  grep -vF -- '-r ${failRs}:' <<<"$input" | /usr/sbin/ipvsadm -R
  [[ -n "$bad" ]] && { echo "injected failure" >&2; exit 0; }
  exit 0` : 'printf "%s\\n" "$input" | exec /usr/sbin/ipvsadm -R'}
fi
exec /usr/sbin/ipvsadm "$@"
`,
  );
  chmodSync(join(dir, 'ipvsadm'), 0o755);
  const oldPath = process.env.PATH;
  process.env.PATH = `${dir}:${oldPath}`;
  return {
    calls: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []),
    restore: () => {
      process.env.PATH = oldPath;
    },
  };
}

// Only in the guest: this machine's kernel has no IPVS, and the guest's root namespace is
// throwaway (test/conformance/guest-kernel.test.ts boots the guest and runs this file there).
if (inGuest) describe('ipvs backend (guest kernel)', kernelSuite);
else describe.skip('ipvs backend (guest kernel) (skipped: runs inside the guest via test/conformance/guest-kernel.test.ts)', kernelSuite);

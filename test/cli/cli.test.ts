// The built CLI as users run it (bin/bpfproxy.js → dist/): help, render, and located errors.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/util/exec.js';

const BIN = fileURLToPath(new URL('../../bin/bpfproxy.js', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../examples/hostnames', import.meta.url));
const cli = (args: string[]) => run(process.execPath, [BIN, ...args], { allowFailure: true });

describe('bpfproxy CLI', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bpfproxy-cli-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('prints help', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('bpfproxy run');
  });

  it('renders the seed as iptables-restore input without touching the kernel', async () => {
    const r = await cli(['render', '--backend=iptables', '--manifests', EXAMPLES]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('-A KUBE-SERVICES -m comment --comment "default/hostnames cluster IP" -m tcp -p tcp -d 198.19.1.175/32 --dport 80 -j KUBE-SVC-YN5D6RYVEVZOH44Q');
    expect(r.stdout).not.toContain('198.18.1.5'); // the unready pod
  });

  it('logs a located problem for a bad object and still renders the rest', async () => {
    await writeFile(join(dir, 'ok.yaml'), `apiVersion: v1\nkind: Service\nmetadata: {name: ok}\nspec: {clusterIP: 198.19.1.9, ports: [{port: 80}]}\n`);
    await writeFile(join(dir, 'bad.yaml'), `apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {clusterIP: 198.19.1.9, ports: [{port: 0}]}\n`);
    const r = await cli(['render', '--backend=iptables', '--manifests', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('default/ok has no endpoints');
    const problem = r.stderr.split('\n').map((l) => (l ? JSON.parse(l) : {})).find((l) => l.object === 'Service default/bad');
    expect(problem).toMatchObject({ file: join(dir, 'bad.yaml'), field: 'spec.ports[0].port' });
  });

  it('ebpf render with --lb-algorithm=maglev: the flag and each table\'s size, a bad annotation located and that Service still rendered', async () => {
    const r = await cli(['render', '--backend=ebpf', '--manifests', EXAMPLES, '--lb-algorithm=maglev', '--maglev-table-size=251']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^services \{vip=198\.19\.1\.175 dport=80 proto=6 slot=0\} = \{.* flags=maglev /m);
    expect(r.stdout).toMatch(/^maglev \d+ = \{table_size=251 backends=3\}$/m);
    const annotated = await mkdtemp(join(tmpdir(), 'bpfproxy-cli-'));
    try {
      await writeFile(join(annotated, 'svc.yaml'),
        'apiVersion: v1\nkind: Service\nmetadata: {name: typo, annotations: {bpfproxy.io/lb-algorithm: consistent}}\nspec: {clusterIP: 198.19.1.9, ports: [{port: 80}]}\n');
      const bad = await cli(['render', '--backend=ebpf', '--manifests', annotated]);
      expect(bad.code).toBe(0);
      expect(bad.stdout).toContain('# ClusterIP 198.19.1.9:80/TCP');
      const problem = bad.stderr.split('\n').map((l) => (l ? JSON.parse(l) : {})).find((l) => l.object === 'Service default/typo');
      expect(problem).toMatchObject({ file: join(annotated, 'svc.yaml'), field: 'metadata.annotations["bpfproxy.io/lb-algorithm"]' });
      expect(problem.msg).toBe('ignored: unknown load-balancing algorithm "consistent" (want random or maglev); the Service uses --lb-algorithm\'s');
    } finally {
      await rm(annotated, { recursive: true, force: true });
    }
  });

  it('rejects an unknown backend and a bad duration with exit 2', async () => {
    expect((await cli(['run', '--backend=nft'])).stderr).toContain('--backend: want one of');
    expect((await cli(['run', '--sync-period=soon'])).code).toBe(2);
  });
});

describe('bpfproxy run: invalid flags and --config exit 2 before touching the kernel', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bpfproxy-flags-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** Runs `bpfproxy run ARGS` with a pin root that must never appear (no kernel touched). */
  async function refused(args: string[]): Promise<string> {
    const pins = join(dir, 'pins');
    const r = await cli(['run', '--bpf-pin-root', pins, '--manifests', dir, ...args]);
    expect(r.code, r.stderr).toBe(2);
    expect(existsSync(pins)).toBe(false);
    return r.stderr;
  }
  const config = async (name: string, text: string) => {
    const p = join(dir, name);
    await writeFile(p, text);
    return p;
  };
  const header = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n';

  it('names the flag and its allowed values', async () => {
    expect(await refused(['--proxy-mode', 'nftables'])).toContain('--backend: want one of ebpf, iptables, ipvs, got "nftables"');
    expect(await refused(['--ipvs-scheduler', 'fastest'])).toContain('--ipvs-scheduler: want one of rr, wrr, lc, wlc, lblc, lblcr, sh, dh, sed, nq, mh, got "fastest"');
    expect(await refused(['--cluster-cidr', '198.18.0.0/33'])).toContain('--cluster-cidr');
    expect(await refused(['--metrics-bind-address', 'localhost'])).toContain('--metrics-bind-address: want host:port');
    expect(await refused(['--backend', 'ebpf', '--proxy-mode', 'iptables'])).toContain('--backend "ebpf" and --proxy-mode "iptables" disagree');
    expect(await refused(['--kubeconfig', '/nonexistent'])).toContain('--manifests and --kubeconfig/--master: pick one source');
    expect(await refused(['--unknown-flag'])).toContain("Unknown option '--unknown-flag'");
  });

  it('names a bad --nodeport-addresses entry, the keyword it does not support, and a bad --iptables-localhost-nodeports', async () => {
    expect(await refused(['--nodeport-addresses', 'primary,198.19.0.0/99'])).toContain('--nodeport-addresses:');
    expect(await refused(['--nodeport-addresses', 'localhost'])).toContain('--nodeport-addresses: "localhost" (NodePorts on loopback addresses) is not supported');
    expect(await refused(['--iptables-localhost-nodeports', 'yes'])).toContain('--iptables-localhost-nodeports: want true or false, got "yes"');
  });

  it('names a bad --lb-algorithm, --maglev-table-size or --maglev-seed', async () => {
    expect(await refused(['--lb-algorithm', 'round-robin'])).toContain('--lb-algorithm: want random or maglev, got "round-robin"');
    expect(await refused(['--maglev-table-size', '16383'])).toContain('--maglev-table-size: 16383 is not prime');
    expect(await refused(['--maglev-table-size', '7'])).toContain('--maglev-table-size: want a prime from 251 to 131071, got 7');
    expect(await refused(['--maglev-table-size', '262139'])).toContain('--maglev-table-size: want a prime from 251 to 131071, got 262139');
    expect(await refused(['--maglev-table-size', '1e4'])).toContain('--maglev-table-size: want a prime from 251 to 131071, got "1e4"');
    expect(await refused(['--maglev-seed', ''])).toContain('--maglev-seed: must not be empty');
  });

  it('names the bad --dns-* flag', async () => {
    const dns = ['--dns-bind-address', '127.0.0.1:53'];
    expect(await refused([...dns, '--dns-pods', 'sometimes'])).toContain('--dns-pods: want one of disabled, insecure, verified, got "sometimes"');
    expect(await refused([...dns, '--dns-ttl', '1.5s'])).toContain('--dns-ttl: want whole seconds');
    expect(await refused([...dns, '--cluster-domain', 'bad_zone!'])).toContain('--cluster-domain: want a DNS name');
    expect(await refused([...dns, '--dns-upstream', join(dir, 'none.conf')])).toContain('--dns-upstream: cannot read');
    const conf = await config('resolv.conf', 'search example.test\nnameserver 198.18.9.300\n');
    expect(await refused([...dns, '--dns-upstream', conf])).toContain(`--dns-upstream: ${conf}:2: nameserver "198.18.9.300" is not an IP address`);
    expect(await refused(['--dns-bind-address', 'localhost'])).toContain('--dns-bind-address: want host:port');
  });

  it('names the --config file and field, for a bad value as for an unknown field', async () => {
    const bad = await config('bad-value.yaml', `${header}iptables:\n  syncPeriod: soon\n`);
    expect(await refused(['--config', bad])).toContain(`--config ${bad}: iptables.syncPeriod: invalid duration "soon"`);
    const cidr = await config('bad-cidr.yaml', `${header}clusterCIDR: 198.18.0.0/99\n`);
    expect(await refused(['--config', cidr])).toContain(`--config ${cidr}: clusterCIDR:`);
    const unknown = await config('unknown.yaml', `${header}mode: iptables\nsyncPeriod: 1s\n`);
    expect(await refused(['--config', unknown])).toContain(`--config ${unknown}: syncPeriod: unknown field`);
    expect(await refused(['--config', join(dir, 'missing.yaml')])).toContain('missing.yaml');
  });

  it('a command-line flag overrides the --config value', async () => {
    const cfg = await config('ok.yaml', `${header}mode: ipvs\nipvs:\n  scheduler: fastest\n`);
    // The file's bad scheduler is never used: the flag wins, and the next error is the flag's.
    expect(await refused(['--config', cfg, '--ipvs-scheduler', 'rr', '--sync-period', 'never'])).toContain('--sync-period: invalid duration "never"');
  });
});

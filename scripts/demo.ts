// `make demo`: the seed example end to end. Builds throwaway namespaces from the pods
// that examples/hostnames/ names (node-a, its pods, a client), runs the real bpfproxy in
// the node namespace on that directory, curls the VIP from the client, asks its cluster DNS
// for the seed's names with dig, shows `inspect` and the kernel state (iptables rules or
// BPF maps), then removes everything.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { newRunPrefix, nsRun } from '../test/harness/netns.js';
import { ProxyProcess } from '../test/harness/proxy-process.js';
import { Topology } from '../test/harness/topology.js';
import { run } from '../src/util/exec.js';

const { values } = parseArgs({ options: { backend: { type: 'string', default: 'ebpf' }, manifests: { type: 'string', default: 'examples/hostnames' } } });
const backend = values.backend!;
const dir = values.manifests!;

interface Obj {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: { clusterIP?: string; ports?: Array<{ port: number }> };
  endpoints?: Array<{ addresses: string[]; nodeName?: string; targetRef?: { name: string } }>;
}
const objects: Obj[] = readdirSync(dir)
  .filter((f) => /\.ya?ml$/.test(f))
  .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as Obj));
const svc = objects.find((o) => o.kind === 'Service' && o.spec?.clusterIP !== 'None')!;
const vip = `${svc.spec!.clusterIP}:${svc.spec!.ports![0]!.port}`;
const pods = objects
  .filter((o) => o.kind === 'EndpointSlice' && o.metadata.labels?.['kubernetes.io/service-name'] === svc.metadata.name)
  .flatMap((s) => s.endpoints ?? []);
// Cluster DNS inside the node namespace, on its loopback (the demo's resolver).
const DNS = '127.0.0.1';
const DNS_NAMES: Array<[string, string]> = [
  [`${svc.metadata.name}.default.svc.cluster.local`, 'A'],
  ['default-subdomain.default.svc.cluster.local', 'A'],
  ['busybox-1.default-subdomain.default.svc.cluster.local', 'A'],
  ['_foo._tcp.default-subdomain.default.svc.cluster.local', 'SRV'],
];

const say = (s: string) => console.log(`\n\x1b[1m${s}\x1b[0m`);
const prefix = newRunPrefix();
const topo = new Topology(prefix);
const proxy = new ProxyProcess({
  backend,
  netns: `${prefix}-node-a`,
  manifests: dir,
  nodeName: 'node-a',
  extraArgs: [...(backend === 'ebpf' ? ['--bpf-pin-root', `/sys/fs/bpf/${prefix}`] : ['--cluster-cidr', '198.18.0.0/16']), '--dns-bind-address', `${DNS}:53`],
});

try {
  say(`bpfproxy demo — backend ${backend}, manifests ${dir}, namespaces ${prefix}-*`);
  await topo.addNode('node-a', 1);
  for (const p of pods) await topo.addPod(p.targetRef!.name, 'node-a', p.addresses[0]!);
  await topo.addPod('client', 'node-a', '198.18.1.100', false);
  console.log(`node-a: ${prefix}-node-a; pods: ${pods.map((p) => `${p.targetRef!.name}=${p.addresses[0]}`).join(', ')}; client 198.18.1.100`);

  say(`$ bpfproxy run --backend=${backend} --manifests ${dir} --netns ${prefix}-node-a`);
  await proxy.start();
  console.log(proxy.logs.filter((l) => l.includes('"synced"')).slice(-1)[0] ?? '');

  say(`$ curl -s http://${vip}/   (from the client pod, until three different hostnames answered; at most 15 tries)`);
  const seen = new Set<string>();
  for (let i = 0; i < 15 && seen.size < 3; i++) {
    const r = await nsRun(topo.pod('client').ns, 'curl', ['-s', '--max-time', '2', `http://${vip}/`], { allowFailure: true });
    console.log(r.code === 0 ? r.stdout : `curl failed (${r.code}) ${r.stderr.trim()}`);
    if (r.code === 0) seen.add(r.stdout);
  }

  for (const [name, type] of DNS_NAMES) {
    say(`$ dig @${DNS} ${name} ${type} +noall +answer   (in the node namespace)`);
    const r = await nsRun(`${prefix}-node-a`, 'dig', [`@${DNS}`, name, type, '+noall', '+answer', '+tries=1', '+time=2'], { allowFailure: true });
    console.log((r.stdout || r.stderr).trim());
  }

  say(`$ bpfproxy inspect --backend=${backend} --netns ${prefix}-node-a`);
  process.stdout.write(await proxy.inspect());

  if (backend === 'iptables') {
    say('$ iptables-save -t nat   (the KUBE-* part, inside the node namespace)');
    const save = (await nsRun(`${prefix}-node-a`, 'iptables-save', ['-t', 'nat'])).stdout;
    console.log(save.split('\n').filter((l) => l.includes('KUBE-') && !l.startsWith('#')).join('\n'));
  } else if (backend === 'ebpf') {
    for (const map of ['services', 'backends', 'rev_nat']) {
      say(`$ bpftool map dump pinned /sys/fs/bpf/${prefix}/${map}`);
      const r = await run('bpftool', ['map', 'dump', 'pinned', `/sys/fs/bpf/${prefix}/${map}`], { allowFailure: true });
      console.log((r.stdout || r.stderr).trim());
    }
  }
  if (seen.size < 3) {
    console.error(`\ndemo: only ${seen.size} hostnames answered`);
    process.exitCode = 1;
  } else say(`three hostnames answered through ${vip}: ${[...seen].sort().join(', ')}`);
} catch (e) {
  console.error(`demo failed: ${(e as Error).message}`);
  console.error(proxy.logs.slice(-20).join('\n'));
  process.exitCode = 1;
} finally {
  say('cleanup');
  await proxy.stop();
  await proxy.cleanup().catch((e: Error) => console.error(`cleanup: ${e.message}`));
  await topo.destroy();
  console.log('removed namespaces, rules and pinned objects');
}

// Cluster DNS end to end: the real `bpfproxy run --dns-bind-address` in a test namespace,
// queried with dig for every record kind the Kubernetes DNS specification defines, first
// fed by a manifests directory, then by the real API server. With the API server, the same
// queries go to the real CoreDNS (kubernetes plugin, same objects, same upstream) and the
// answers must agree: rcode, answer, authority and additional sections as sets, TTLs and
// the SOA serial aside.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiWriter } from '../cluster/api-writer.js';
import { TestCluster } from '../cluster/cluster.js';
import { describeCluster } from '../cluster/describe-cluster.js';
import { type ApiRelay, netnsWithApi } from '../cluster/relay.js';
import { describeKernel } from '../kernel-required.js';
import { eventually } from '../harness/client.js';
import { deleteNetns, newRunPrefix, nsRun, spawnInNetns } from '../harness/netns.js';
import { ProxyProcess } from '../harness/proxy-process.js';
import { type DigAnswer, dig } from './dig.js';
import { BIG_ENDPOINTS, DIFFERENTIAL_ONLY, DNS_OBJECTS, EXPECTED, UPSTREAM_HOSTS, soaOf } from './fixture.js';

const LOOPBACK = '127.0.0.1';
const OURS = 53;
const COREDNS = 1053;
const UPSTREAM = 2053;
const METRICS = '127.0.0.1:10249';

describeCluster('cluster DNS, checked with dig and against CoreDNS', (peers) => describeKernel('in a test namespace', () => {
  const ns = `${newRunPrefix()}-dns`;
  const dir = mkdtempSync(join(tmpdir(), 'bpfproxy-dns-'));
  const manifests = join(dir, 'manifests');
  const resolvConf = join(dir, 'resolv.conf');
  let cluster: TestCluster;
  let relay: ApiRelay;
  let coredns: ChildProcess | undefined;

  /** Starts bpfproxy with DNS on the namespace's loopback and waits until it answers. */
  async function startProxy(source: { manifests: string } | { kubeconfig: string }): Promise<ProxyProcess> {
    const proxy = new ProxyProcess({
      backend: 'iptables', netns: ns, nodeName: 'node-a', ...source,
      extraArgs: ['--dns-bind-address', `${LOOPBACK}:${OURS}`, '--dns-upstream', resolvConf, '--metrics-bind-address', METRICS],
    });
    await proxy.start();
    await eventually(async () => {
      const a = await dig(ns, LOOPBACK, OURS, 'web.default.svc.cluster.local', 'A');
      if (a.answers.length !== 1) throw new Error(`bpfproxy DNS not serving yet: ${a.raw}\n${proxy.logs.slice(-10).join('\n')}`);
    }, 20_000);
    return proxy;
  }

  function checkExpected(label: string, get: () => ProxyProcess): void {
    it.each(EXPECTED.map((e) => [`${e.name} ${e.type}`, e] as const))(`${label}: %s`, async (_, e) => {
      const a = await dig(ns, LOOPBACK, OURS, e.name, e.type);
      const why = `${e.name} ${e.type}:\n${a.raw}\n${get().logs.slice(-5).join('\n')}`;
      expect(a.rcode, why).toBe(e.rcode);
      expect(a.answers, why).toEqual([...e.answers].sort());
      if (e.additionals) expect(a.additionals, why).toEqual([...e.additionals].sort());
      // NXDOMAIN and NODATA both carry the zone's SOA (RFC 2308); an answer carries none.
      expect(a.authorities, why).toEqual(e.answers.length === 0 ? [soaOf(e.name)] : []);
      expect(a.flags, why).toContain('aa');
    });

    it(`${label}: a big headless answer is truncated over UDP (TC) and complete over TCP`, async () => {
      const udp = await dig(ns, LOOPBACK, OURS, 'big.default.svc.cluster.local', 'A', ['+ignore', '+bufsize=1232']);
      expect(udp.flags).toContain('tc');
      expect(udp.answers).toEqual([]);
      const retried = await dig(ns, LOOPBACK, OURS, 'big.default.svc.cluster.local', 'A'); // dig retries over TCP on TC
      expect(retried.answers.length).toBe(BIG_ENDPOINTS);
      const tcp = await dig(ns, LOOPBACK, OURS, 'big.default.svc.cluster.local', 'A', ['+tcp']);
      expect(tcp.answers).toEqual(retried.answers);
    });

    it(`${label}: names outside the zone are forwarded to --dns-upstream`, async () => {
      const a = await dig(ns, LOOPBACK, OURS, 'db.example.test', 'A');
      expect(a.rcode).toBe('NOERROR');
      expect(a.answers).toEqual(['db.example.test. A 198.18.9.9']);
      // Forwarded as it is: the upstream's own answer, whatever its rcode.
      const missing = await dig(ns, LOOPBACK, OURS, 'nosuch.example.test', 'A');
      const direct = await dig(ns, LOOPBACK, UPSTREAM, 'nosuch.example.test', 'A');
      expect({ ...missing, raw: '' }).toEqual({ ...direct, raw: '' });
    });
  }

  beforeAll(async () => {
    cluster = await TestCluster.start(peers);
    relay = await netnsWithApi(cluster, ns);
    // The upstream: the real CoreDNS serving one test name from a hosts block.
    const hosts = UPSTREAM_HOSTS.map(([ip, name]) => `    ${ip} ${name}`).join('\n');
    const kubeconfig = await cluster.writeKubeconfig('coredns');
    const corefile = join(dir, 'Corefile');
    writeFileSync(
      corefile,
      `.:${COREDNS} {
  errors
  kubernetes cluster.local in-addr.arpa ip6.arpa {
    kubeconfig ${kubeconfig} test
    pods insecure
    ttl 5
  }
  forward . ${LOOPBACK}:${UPSTREAM}
}
.:${UPSTREAM} {
  hosts {
${hosts}
  }
}
`,
    );
    writeFileSync(resolvConf, `# the test upstream (a port other than 53: bpfproxy's extension)\nnameserver ${LOOPBACK}:${UPSTREAM}\n`);
    mkdirSync(manifests);
    writeFileSync(join(manifests, 'dns.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: DNS_OBJECTS }));
    coredns = await spawnInNetns(ns, peers.coredns, ['-conf', corefile], /CoreDNS-\d/, 30_000);
  });

  afterAll(async () => {
    coredns?.kill('SIGTERM');
    await relay?.close();
    await deleteNetns(ns);
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('fed by a manifests directory', () => {
    let proxy: ProxyProcess;
    beforeAll(async () => {
      proxy = await startProxy({ manifests });
    });
    afterAll(async () => {
      await proxy?.stop();
      await proxy?.cleanup().catch(() => undefined);
    });
    checkExpected('manifests', () => proxy);
  });

  describe('fed by the API server, and the same as CoreDNS', () => {
    let proxy: ProxyProcess;
    beforeAll(async () => {
      const api = new ApiWriter(cluster);
      await api.write('dns', DNS_OBJECTS as never);
      proxy = await startProxy({ kubeconfig: await cluster.writeKubeconfig('node-a') });
      // CoreDNS serves once its informers synced; wait until it has the last object too.
      await eventually(async () => {
        const a = await dig(ns, LOOPBACK, COREDNS, 'big.default.svc.cluster.local', 'A');
        if (a.answers.length !== BIG_ENDPOINTS) throw new Error(`CoreDNS not serving the objects yet: ${a.raw}`);
      }, 30_000);
    });
    afterAll(async () => {
      await proxy?.stop();
      await proxy?.cleanup().catch(() => undefined);
    });
    checkExpected('kubernetes', () => proxy);

    const queries: Array<[string, string]> = [...EXPECTED.map((e) => [e.name, e.type] as [string, string]), ...DIFFERENTIAL_ONLY];
    it.each(queries)('differential: %s %s', async (name, type) => {
      const [ours, theirs] = [await dig(ns, LOOPBACK, OURS, name, type), await dig(ns, LOOPBACK, COREDNS, name, type)];
      const view = (a: DigAnswer) => ({ rcode: a.rcode, answers: a.answers, authorities: a.authorities, additionals: a.additionals });
      expect(view(ours), `bpfproxy:\n${ours.raw}\nCoreDNS:\n${theirs.raw}`).toEqual(view(theirs));
    });

    it('counts its answers on /metrics: by transport and rcode, and the answer-cache hits', async () => {
      const nxdomains = EXPECTED.filter((e) => e.rcode === 'NXDOMAIN').length;
      const sample = (text: string, series: string) => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.split(' ')[1] ?? Number.NaN);
      // The DNS thread posts its totals once a second.
      await eventually(async () => {
        const text = (await nsRun(ns, 'curl', ['-s', '-m', '5', `http://${METRICS}/metrics`])).stdout;
        const got = {
          udpNxdomain: sample(text, 'bpfproxy_dns_responses_total{proto="udp",rcode="NXDOMAIN"}'),
          tcpNoerror: sample(text, 'bpfproxy_dns_responses_total{proto="tcp",rcode="NOERROR"}'),
          udpHits: sample(text, 'bpfproxy_dns_cache_hits_total{proto="udp"}'),
        };
        // Each EXPECTED query was asked at least twice (its own check and the differential),
        // so its second answer came from the cache; the big answer came over TCP.
        if (!(got.udpNxdomain >= 2 * nxdomains && got.tcpNoerror >= 1 && got.udpHits >= EXPECTED.length)) {
          throw new Error(`DNS counters not there yet: ${JSON.stringify(got)}`);
        }
      }, 10_000);
    });
  });
}));

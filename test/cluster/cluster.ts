// A real test cluster: etcd and kube-apiserver (built from their Go modules by
// scripts/cluster/build.sh) on 127.0.0.1 with free ports and a temp data dir. RBAC and the
// Node authorizer on, service-account signing keys, an admin token for the test driver,
// and the Service CIDRs of DESIGN.md's address plan. No controller-manager runs: tests
// write EndpointSlices themselves, as the manifests source's tests write files.
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Peers } from './peers.js';

/** DESIGN.md: Service VIPs 198.19.0.0/17 and 2001:db8:19::/112. */
export const SERVICE_CIDRS = '198.19.0.0/17,2001:db8:19::/112';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

interface Proc {
  child: ChildProcess;
  log: string[];
}

function startProc(name: string, bin: string, args: string[]): Proc {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  const keep = (b: Buffer) => {
    log.push(b.toString());
    if (log.length > 400) log.splice(0, log.length - 400);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.on('error', (e) => log.push(`${name}: ${e.message}`));
  return { child, log };
}

async function stopProc(p: Proc | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

export class TestCluster {
  readonly adminToken = randomBytes(16).toString('hex');
  private etcd?: Proc;
  private apiserver?: Proc;
  private etcdClientPort = 0;
  private etcdPeerPort = 0;
  apiPort = 0;
  /** The serving cert (written once by the first API server start; trusted by every request). */
  private ca: string | undefined;

  private constructor(
    private readonly peers: Peers,
    readonly dir: string,
  ) {}

  /** Starts etcd and kube-apiserver and waits for /readyz; on failure everything started is stopped. */
  static async start(peers: Peers): Promise<TestCluster> {
    const c = new TestCluster(peers, await mkdtemp(join(tmpdir(), 'bpfproxy-cluster-')));
    try {
      await c.init();
      return c;
    } catch (e) {
      await c.stop();
      throw e;
    }
  }

  get url(): string {
    return `https://127.0.0.1:${this.apiPort}`;
  }

  get caFile(): string {
    return join(this.dir, 'certs', 'apiserver.crt');
  }

  private async init(): Promise<void> {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(join(this.dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(join(this.dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    // token,user,uid,"groups": the test driver is a cluster admin.
    await writeFile(join(this.dir, 'tokens.csv'), `${this.adminToken},test-admin,test-admin,"system:masters"\n`);
    this.etcdClientPort = await freePort();
    this.etcdPeerPort = await freePort();
    this.apiPort = await freePort();
    this.startEtcd();
    await this.startApiserver();
  }

  private startEtcd(): void {
    const client = `http://127.0.0.1:${this.etcdClientPort}`;
    const peer = `http://127.0.0.1:${this.etcdPeerPort}`;
    this.etcd = startProc('etcd', this.peers.etcd, [
      '--name', 'test', '--data-dir', join(this.dir, 'etcd'),
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `test=${peer}`,
      '--unsafe-no-fsync', // a throwaway store; fsync only slows the tests
      '--log-level', 'warn',
    ]);
  }

  /** Starts (or restarts, on the same port) kube-apiserver and waits for /readyz. */
  async startApiserver(): Promise<void> {
    this.apiserver = startProc('kube-apiserver', this.peers.kubeApiserver, [
      '--etcd-servers', `http://127.0.0.1:${this.etcdClientPort}`,
      '--bind-address', '127.0.0.1', '--advertise-address', '127.0.0.1',
      '--secure-port', String(this.apiPort),
      '--cert-dir', join(this.dir, 'certs'), // self-signed serving cert, written once
      '--token-auth-file', join(this.dir, 'tokens.csv'),
      '--authorization-mode', 'Node,RBAC',
      // No controller-manager creates namespaces' default ServiceAccounts; test Pods never run.
      '--disable-admission-plugins', 'ServiceAccount',
      '--service-account-issuer', 'https://kubernetes.default.svc',
      '--service-account-key-file', join(this.dir, 'sa.pub'),
      '--service-account-signing-key-file', join(this.dir, 'sa.key'),
      '--service-cluster-ip-range', SERVICE_CIDRS,
      // The apiserver's own endpoints would be 127.0.0.1, which EndpointSlices refuse.
      '--endpoint-reconciler-type', 'none',
      '-v', '1',
    ]);
    await this.waitReady();
  }

  async stopApiserver(): Promise<void> {
    await stopProc(this.apiserver);
    this.apiserver = undefined;
  }

  /** Polls /readyz (bounded) until the API server says it is ready. */
  private async waitReady(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const p = this.apiserver!;
      if (p.child.exitCode !== null) throw new Error(`kube-apiserver exited (${p.child.exitCode}):\n${p.log.join('').slice(-4000)}`);
      try {
        const r = await this.request('GET', '/readyz');
        if (r.status === 200) return;
        last = `${r.status} ${r.text}`;
      } catch (e) {
        last = (e as Error).message;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`kube-apiserver not ready in ${timeoutMs} ms (${last}):\n${this.apiserver!.log.join('').slice(-4000)}`);
  }

  /** A raw HTTPS request with the admin token (or `token`), trusting the cluster's serving cert. */
  async request(method: string, path: string, body?: unknown, token = this.adminToken, contentType = 'application/json'): Promise<{ status: number; text: string }> {
    const ca = (this.ca ??= await readFile(this.caFile, 'utf8'));
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        this.url + path,
        { method, ca, headers: { authorization: `Bearer ${token}`, 'content-type': contentType, accept: 'application/json' }, timeout: 10_000 },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.end(data);
    });
  }

  /** A kubeconfig file for `token` (default: the admin's), as bpfproxy --kubeconfig reads it. */
  async writeKubeconfig(name: string, token = this.adminToken, server = this.url): Promise<string> {
    const path = join(this.dir, `${name}.kubeconfig`);
    const ca = Buffer.from(await readFile(this.caFile)).toString('base64');
    await writeFile(
      path,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster: { server, 'certificate-authority-data': ca } }],
        users: [{ name, user: { token } }],
        contexts: [{ name: 'test', context: { cluster: 'test', user: name } }],
        'current-context': 'test',
      }),
    );
    return path;
  }

  async kubeConfig(token = this.adminToken): Promise<KubeConfig> {
    const kc = new KubeConfig();
    kc.loadFromFile(await this.writeKubeconfig(`kc-${token.slice(0, 6)}`, token));
    return kc;
  }

  /**
   * Compacts etcd's history up to its current revision (etcd's JSON gateway), so a watch
   * that resumes from an older resourceVersion gets 410 Gone, for real.
   */
  async compact(): Promise<number> {
    const base = `http://127.0.0.1:${this.etcdClientPort}/v3`;
    const r = await fetch(`${base}/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) });
    const revision = Number(((await r.json()) as { header: { revision: string } }).header.revision);
    const c = await fetch(`${base}/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision, physical: true }) });
    if (!c.ok) throw new Error(`etcd compaction to ${revision}: ${c.status} ${await c.text()}`);
    return revision;
  }

  /** Stops the API server and etcd and removes the data dir; safe to call twice. */
  async stop(): Promise<void> {
    await stopProc(this.apiserver);
    await stopProc(this.etcd);
    await rm(this.dir, { recursive: true, force: true });
  }

  logs(): string {
    return `--- kube-apiserver ---\n${this.apiserver?.log.join('').slice(-3000) ?? ''}\n--- etcd ---\n${this.etcd?.log.join('').slice(-1500) ?? ''}`;
  }
}

// A minimal single-node topology for the eBPF kernel test (DESIGN.md "Test topology"):
// node netns routing for pod/client netns attached by veth pairs, Calico-style /32 routes,
// the node side of every veth holding the gateway address. Names carry a per-run prefix.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { LineChild } from '../../harness/line-child.js';

const exec = promisify(execFile);
const SERVER = fileURLToPath(new URL('./hostname-server.mjs', import.meta.url));
export const UDP_CLIENT = fileURLToPath(new URL('./udp-client.mjs', import.meta.url));
export const TCP_CLIENT = fileURLToPath(new URL('./tcp-client.mjs', import.meta.url));
const KEEPALIVE_CLIENT = fileURLToPath(new URL('./keepalive-client.mjs', import.meta.url));

/** A keep-alive HTTP connection from a netns; `next()` sends one more request. */
export class KeepAlive extends LineChild {
  constructor(ns: string, host: string, port: number) {
    super(spawn('ip', ['netns', 'exec', ns, process.execPath, KEEPALIVE_CLIENT, host, String(port)], { stdio: ['pipe', 'pipe', 'ignore'] }));
  }

  /** One more request; the next line (`BODY <pod>`, or how the connection ended). */
  next(): Promise<string> {
    return this.command('');
  }
}

export const GATEWAY = '198.18.1.1';
/** The node side of every veth for IPv6 hosts (as GATEWAY for IPv4). */
export const GATEWAY6 = '2001:db8:18:1::1';

export async function sh(cmd: string, args: string[], timeoutMs = 20_000): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await exec(cmd, args, { timeout: timeoutMs });
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; code?: number | string };
    return { stdout: x.stdout ?? '', stderr: x.stderr ?? String(e), code: typeof x.code === 'number' ? x.code : -1 };
  }
}

async function must(cmd: string, args: string[]): Promise<string> {
  const r = await sh(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

export interface Host {
  name: string;
  ns: string;
  ip: string;
  hostIf: string;
  server?: ChildProcess;
}

export class MiniTopology {
  readonly prefix = `bpt${randomBytes(3).toString('hex').slice(0, 5)}`;
  readonly nodeNs = `${this.prefix}-node`;
  readonly hosts = new Map<string, Host>();
  private readonly namespaces: string[] = [];
  private vethCount = 0;

  get nodeNsPath(): string {
    return `/run/netns/${this.nodeNs}`;
  }

  async createNode(): Promise<void> {
    await must('ip', ['netns', 'add', this.nodeNs]);
    this.namespaces.push(this.nodeNs);
    await must('ip', ['-n', this.nodeNs, 'link', 'set', 'lo', 'up']);
    // Strict reverse-path filtering on purpose: the data path must not depend on it being off.
    for (const k of ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=1', 'net.ipv4.conf.default.rp_filter=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.default.send_redirects=0'])
      await must('ip', ['netns', 'exec', this.nodeNs, 'sysctl', '-qw', k]);
  }

  /** `ip6`: the host gets this IPv6 address too (a /128 routed to it, GATEWAY6 as its
   * default router) and its server listens on both families. */
  async addHost(name: string, ip: string, serve: boolean, ip6?: string): Promise<Host> {
    const ns = `${this.prefix}-${name}`;
    const hostIf = `${this.prefix}v${this.vethCount++}`;
    await must('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await must('ip', ['-n', this.nodeNs, 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await must('ip', ['-n', this.nodeNs, 'link', 'set', hostIf, 'up']);
    await must('ip', ['-n', this.nodeNs, 'addr', 'add', `${GATEWAY}/32`, 'dev', hostIf]);
    await must('ip', ['-n', this.nodeNs, 'route', 'add', `${ip}/32`, 'dev', hostIf, 'src', GATEWAY]);
    await must('ip', ['-n', ns, 'addr', 'add', `${ip}/32`, 'dev', 'eth0']);
    await must('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    await must('ip', ['-n', ns, 'route', 'add', `${GATEWAY}/32`, 'dev', 'eth0', 'scope', 'link']);
    await must('ip', ['-n', ns, 'route', 'add', 'default', 'via', GATEWAY, 'dev', 'eth0']);
    if (ip6) {
      // nodad: usable at once (no duplicate address detection wait).
      await must('ip', ['-n', this.nodeNs, '-6', 'addr', 'add', `${GATEWAY6}/128`, 'dev', hostIf, 'nodad']);
      await must('ip', ['-n', this.nodeNs, '-6', 'route', 'add', `${ip6}/128`, 'dev', hostIf]);
      await must('ip', ['-n', ns, '-6', 'addr', 'add', `${ip6}/128`, 'dev', 'eth0', 'nodad']);
      await must('ip', ['-n', ns, '-6', 'route', 'add', `${GATEWAY6}/128`, 'dev', 'eth0']);
      await must('ip', ['-n', ns, '-6', 'route', 'add', 'default', 'via', GATEWAY6, 'dev', 'eth0']);
    }
    const host: Host = { name, ns, ip, hostIf };
    if (serve) host.server = await this.startServer(ns, name, ip6 !== undefined);
    this.hosts.set(name, host);
    return host;
  }

  private startServer(ns: string, name: string, dual = false): Promise<ChildProcess> {
    return new Promise((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, SERVER, name, ...(dual ? ['dual'] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      const timer = setTimeout(() => reject(new Error(`server ${name} not ready: ${err}`)), 15_000);
      child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
      child.stdout!.on('data', (b: Buffer) => {
        if (b.toString().includes('ready')) {
          clearTimeout(timer);
          resolve(child);
        }
      });
      child.on('exit', (code) => reject(new Error(`server ${name} exited ${code}: ${err}`)));
    });
  }

  /** curl from a host netns; returns body, or curl's exit code as `curl:N`. */
  async curl(from: string, url: string, maxTime = 3): Promise<{ out: string; err: string; code: number; ms: number }> {
    const t0 = Date.now();
    const r = await sh('ip', ['netns', 'exec', `${this.prefix}-${from}`, 'curl', '-sS', '--max-time', String(maxTime), url]);
    return { out: r.stdout.trim(), err: r.stderr.trim(), code: r.code, ms: Date.now() - t0 };
  }

  async destroy(): Promise<void> {
    for (const h of this.hosts.values()) h.server?.kill('SIGKILL');
    for (const ns of this.namespaces.reverse()) {
      const pids = await sh('ip', ['netns', 'pids', ns]);
      for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone
        }
      }
      await sh('ip', ['netns', 'delete', ns]);
    }
  }
}

// A cuttable path to the test API server. Proxies under test reach the API server
// through it, so a test can make the API server unreachable (cut) while it stays up for
// the test driver, and make it reachable again (restore) on the same address.
// - On the host: a TCP listener on 127.0.0.1 (the source's own tests).
// - In a node namespace: socat listens on 127.0.0.1:<apiPort> there and connects to this
//   relay's unix socket, so the kubeconfig (https://127.0.0.1:<apiPort>, the serving cert's
//   address) is the same everywhere.
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { run } from '../../src/util/exec.js';
import { createNetns } from '../harness/netns.js';

export class ApiRelay {
  private servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly socats: ChildProcess[] = [];
  private tcpPort = 0;
  readonly socketPath: string;

  constructor(
    private readonly apiPort: number,
    dir: string,
  ) {
    this.socketPath = join(dir, `relay-${apiPort}.sock`);
  }

  /** Listens on the unix socket and on 127.0.0.1 (a free port the first time, the same one after). */
  async open(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    const unix = this.server();
    const tcp = this.server();
    await new Promise<void>((r, j) => unix.once('error', j).listen(this.socketPath, () => r()));
    await new Promise<void>((r, j) => tcp.once('error', j).listen(this.tcpPort, '127.0.0.1', () => r()));
    this.tcpPort = (tcp.address() as { port: number }).port;
    this.servers = [unix, tcp];
  }

  /** https URL of the host-side listener. */
  get url(): string {
    return `https://127.0.0.1:${this.tcpPort}`;
  }

  private server(): Server {
    return createServer((client) => {
      const upstream = connect(this.apiPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
  }

  /** The API server becomes unreachable: open connections reset, new ones refused. */
  async cut(): Promise<void> {
    const closing = this.servers.map((s) => new Promise<void>((r) => s.close(() => r())));
    for (const s of this.sockets) s.destroy();
    await Promise.all(closing);
    this.servers = [];
  }

  async restore(): Promise<void> {
    await this.open();
  }

  /** socat inside `netns`: 127.0.0.1:<apiPort> there → this relay. Resolves once it listens. */
  async intoNetns(netns: string): Promise<void> {
    const p = spawn('ip', ['netns', 'exec', netns, 'socat', `TCP-LISTEN:${this.apiPort},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${this.socketPath}`], {
      stdio: 'ignore',
    });
    this.socats.push(p);
    for (let i = 0; i < 100; i++) {
      const r = await run('ip', ['netns', 'exec', netns, 'ss', '-Hltn', `sport = :${this.apiPort}`], { allowFailure: true });
      if (r.stdout.trim() !== '') return;
      if (p.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`socat in ${netns} is not listening on 127.0.0.1:${this.apiPort}`);
  }

  async close(): Promise<void> {
    for (const p of this.socats) p.kill('SIGKILL');
    await this.cut();
    rmSync(this.socketPath, { force: true });
  }
}

/** A new network namespace `ns` that reaches the API server on apiPort through a new relay. */
export async function netnsWithApi(api: { apiPort: number; dir: string }, ns: string): Promise<ApiRelay> {
  const relay = new ApiRelay(api.apiPort, api.dir);
  await createNetns(ns);
  await relay.open();
  await relay.intoNetns(ns);
  return relay;
}

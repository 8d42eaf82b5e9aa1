// Drives conn-client.mjs: one connected TCP or UDP socket in a given netns and cgroup (so the
// socket LB sees it), command by command. Lines come back in order; each wait is bounded.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./conn-client.mjs', import.meta.url));

export class ConnClient {
  private lines: string[] = [];
  private waiters: Array<(l: string) => void> = [];
  private readonly child: ChildProcess;

  /** `netns`: a /run/netns path; `cgroup`: joined before the socket exists (none: stays in ours). */
  constructor(proto: 'tcp' | 'udp', host: string, port: number, at: { netns: string; cgroup?: string }) {
    const join = at.cgroup ? `echo $$ > "${at.cgroup}/cgroup.procs" && ` : '';
    this.child = spawn('sh', ['-c', `${join}exec nsenter --net="$0" "$@"`, at.netns, process.execPath, SCRIPT, proto, host, String(port)], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    let buf = '';
    this.child.stdout!.on('data', (b: Buffer) => {
      buf += b.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const w = this.waiters.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    });
  }

  /** The next line it prints, or TIMEOUT after a bound (a hung client, not a measurement). */
  line(timeoutMs = 5000): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        resolve('TIMEOUT');
      }, timeoutMs);
      const w = (x: string) => {
        clearTimeout(t);
        resolve(x);
      };
      this.waiters.push(w);
    });
  }

  /** Lines printed so far and not yet read (never waits). */
  pending(): string[] {
    return this.lines.splice(0);
  }

  /** Sends one request; resolves with the next line (`ANSWER <pod>`, `ERROR …`). */
  send(): Promise<string> {
    this.child.stdin!.write('send\n');
    return this.line();
  }

  reconnect(): Promise<string> {
    this.child.stdin!.write('reconnect\n');
    return this.line();
  }

  close(): void {
    this.child.kill('SIGKILL');
  }
}

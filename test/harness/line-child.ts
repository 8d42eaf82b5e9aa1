// A child process driven line by line: each stdout line comes back once, in order, through
// `line()`; a wait is bounded (TIMEOUT marks a hung child, it is not a measurement).
import type { ChildProcess } from 'node:child_process';

export class LineChild {
  private lines: string[] = [];
  private waiters: Array<(l: string) => void> = [];

  constructor(readonly child: ChildProcess) {
    let buf = '';
    child.stdout!.on('data', (b: Buffer) => {
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

  /** The next line it prints, or TIMEOUT after `timeoutMs`. */
  line(timeoutMs = 5000): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve) => {
      const w = (x: string) => {
        clearTimeout(t);
        resolve(x);
      };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        resolve('TIMEOUT');
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Lines printed so far and not yet read (never waits). */
  pending(): string[] {
    return this.lines.splice(0);
  }

  /** Writes one command line to its stdin; resolves with the next line it prints. */
  command(cmd: string, timeoutMs?: number): Promise<string> {
    this.child.stdin!.write(`${cmd}\n`);
    return this.line(timeoutMs);
  }

  close(): void {
    this.child.kill('SIGKILL');
  }
}

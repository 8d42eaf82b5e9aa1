// Link events of a network namespace from iproute2's `ip -o monitor link` (one line per
// RTM_NEWLINK / RTM_DELLINK): a new pod veth gets tc_lb when it appears, before the pod can
// send its first packet, instead of at the next interface poll.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';

export class LinkWatcher {
  private child?: ChildProcess;
  private stopped = false;

  /** `netns`: a /run/netns path to watch instead of our own namespace. */
  constructor(
    private readonly onLink: () => void,
    private readonly log: Logger,
    private readonly netns?: string,
  ) {}

  start(): void {
    // The monitor must not outlive us (it would keep a test's namespace alive, and a deleted
    // namespace sends it nothing to fail on). It runs in its own process group: when its
    // stdin, a pipe only we hold, closes (also when we are SIGKILLed), the shell kills the
    // group; stop() kills the group itself. When `ip` ends on its own (missing, failed), the
    // shell ends too, so we hear of it.
    const script = '{ ip -o monitor link; kill $$; } & read -r _; kill 0';
    const argv = [...(this.netns ? ['nsenter', `--net=${this.netns}`] : []), 'sh', '-c', script];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child = child;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('Deleted')) this.onLink();
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // Without events the interface poll still finds new links, only later: say so, go on.
    child.on('error', (err) => this.log.warn({ err }, 'link monitor (ip monitor link) did not start; new interfaces are found by polling'));
    child.on('exit', (code, signal) => {
      if (!this.stopped) this.log.warn({ code, signal, stderr: stderr.trim() }, 'link monitor exited; new interfaces are found by polling');
    });
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
  }

  stop(): void {
    this.stopped = true;
    const pid = this.child?.pid;
    this.child = undefined;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGTERM'); // the whole group: sh, ip and the subshell
    } catch {
      // already gone
    }
  }
}

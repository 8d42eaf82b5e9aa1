// Drives conn-client.mjs: one connected TCP or UDP socket in a given netns and cgroup (so the
// socket LB sees it), command by command. Lines come back in order; each wait is bounded.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LineChild } from '../../harness/line-child.js';

const SCRIPT = fileURLToPath(new URL('./conn-client.mjs', import.meta.url));

export class ConnClient extends LineChild {
  /** `netns`: a /run/netns path; `cgroup`: joined before the socket exists (none: stays in ours). */
  constructor(proto: 'tcp' | 'udp', host: string, port: number, at: { netns: string; cgroup?: string }) {
    const join = at.cgroup ? `echo $$ > "${at.cgroup}/cgroup.procs" && ` : '';
    super(spawn('sh', ['-c', `${join}exec nsenter --net="$0" "$@"`, at.netns, process.execPath, SCRIPT, proto, host, String(port)], {
      stdio: ['pipe', 'pipe', 'ignore'],
    }));
  }

  /** Sends one request; resolves with the next line (`ANSWER <pod>`, `ERROR …`). */
  send(): Promise<string> {
    return this.command('send');
  }

  /** A new socket, connected like the first; resolves with `CONNECTED …`. */
  reconnect(): Promise<string> {
    return this.command('reconnect');
  }
}

// `--netns NAME`: run this very command inside a named network namespace. Only the
// network namespace is switched (nsenter --net), unlike `ip netns exec`, which also
// remounts /sys and would hide the pinned BPF objects under /sys/fs/bpf.
import { spawn } from 'node:child_process';

const ENTERED = 'BPFPROXY_NETNS_ENTERED';

/** If `netns` is set and we are not in it yet, re-exec inside it and return its exit code. */
export async function reexecInNetns(netns: string | undefined): Promise<number | undefined> {
  if (!netns || process.env[ENTERED] === netns) return undefined;
  const args = ['--net=/run/netns/' + netns, '--', process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  const child = spawn('nsenter', args, { stdio: 'inherit', env: { ...process.env, [ENTERED]: netns } });
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  process.on('SIGTERM', forward('SIGTERM'));
  process.on('SIGINT', forward('SIGINT'));
  return new Promise((resolve) => {
    child.on('error', (e) => {
      process.stderr.write(`bpfproxy: cannot enter netns ${netns}: ${e.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
  });
}

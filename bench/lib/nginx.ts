// nginx (Debian) as the pod's HTTP server: the harness's Node server caps short connections
// at a few hundred per second, nginx does not. Bound to the pod's address only, its config,
// pid and temp files in a directory of the bench's own; one worker (the machine has 2 cores,
// shared with the client and the kernel's softirq work).
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nsRun } from '../../test/harness/netns.js';

function config(dir: string, address: string, port: number): string {
  return `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 100000000;
  server {
    listen ${address}:${port} backlog=4096;
    location / { return 200 "ok\\n"; }
  }
}
`;
}

/** Starts nginx in `ns` on address:port; resolves once it listens (bounded poll of `ss`). */
export async function startNginx(ns: string, address: string, port: number, dir: string): Promise<ChildProcess> {
  await mkdir(dir, { recursive: true });
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, config(dir, address, port));
  const child = spawn('ip', ['netns', 'exec', ns, 'nginx', '-c', conf, '-p', dir, '-e', 'stderr'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  for (let i = 0; i < 200; i++) {
    const r = await nsRun(ns, 'ss', ['-Hltn', `sport = :${port}`], { allowFailure: true });
    if (r.stdout.trim() !== '') return child;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`nginx in ${ns} is not listening on ${address}:${port}: ${err}`);
}

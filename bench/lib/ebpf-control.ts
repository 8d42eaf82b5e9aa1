// bench/control-plane.ts's measurement of one size (ebpf backend in a process of its own, so
// RSS is that size's), as a row: full sync, verify (the periodic sync-period check, reported
// apart from the data plane), endpoint change and add latencies, RSS.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { EbpfControlRow } from './results.js';

const SCRIPT = fileURLToPath(new URL('../control-plane.ts', import.meta.url));

export function ebpfControlPlane(services: number): Promise<EbpfControlRow> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--expose-gc', '--max-old-space-size=4096', SCRIPT, '--inner', String(services)],
      { encoding: 'utf8', timeout: 15 * 60_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`control-plane.ts --inner ${services}: ${err.message}\n${stderr}`));
        resolve(JSON.parse(stdout.trim().split('\n').pop()!) as EbpfControlRow);
      },
    );
  });
}

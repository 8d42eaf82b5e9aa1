// Once per test run: sweep what earlier runs that were killed midway left behind —
// namespaces, pinned BPF objects and cgroups whose names carry a test-run prefix
// (bpt + 5 hex). A run's leftovers count as stale once they are 30 minutes old, so a
// concurrent run on the same machine is never disturbed.
import { readdirSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { deleteNetns, listNetns } from './harness/netns.js';

const STALE_MS = 30 * 60_000;
const RUN_NAME = /^bpt[0-9a-f]{5}(-|$)/;

function stale(path: string): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs > STALE_MS;
  } catch {
    return false;
  }
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export default async function setup(): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const swept: string[] = [];
  for (const name of listNetns()) {
    if (RUN_NAME.test(name) && stale(`/run/netns/${name}`)) {
      await deleteNetns(name);
      swept.push(`netns ${name}`);
    }
  }
  for (const name of entries('/sys/fs/bpf')) {
    const path = `/sys/fs/bpf/${name}`;
    if (RUN_NAME.test(name) && stale(path)) {
      rmSync(path, { recursive: true, force: true });
      swept.push(`bpffs ${name}`);
    }
  }
  for (const root of ['/sys/fs/cgroup/unified', '/sys/fs/cgroup']) {
    for (const name of entries(root)) {
      const path = `${root}/${name}`;
      if (!RUN_NAME.test(name) || !stale(path)) continue;
      try {
        rmdirSync(path); // only empty cgroups can go; a live one keeps its processes
        swept.push(`cgroup ${path}`);
      } catch {
        // still in use
      }
    }
  }
  if (swept.length > 0) console.log(`swept leftovers of killed test runs: ${swept.join(', ')}`);
}

// What a backend may leave in a node namespace: rules, sets, links, tc filters, pinned
// objects. Compared before start and after `--cleanup` to prove cleanup leaves nothing.
import { existsSync, readdirSync } from 'node:fs';
import { run } from '../../src/util/exec.js';
import { nsRun } from './netns.js';

async function out(ns: string, cmd: string, args: string[]): Promise<string> {
  const r = await nsRun(ns, cmd, args, { allowFailure: true });
  return r.code === 0 ? r.stdout : `(${cmd} unavailable)`;
}

/** Reads a flag's value from a bpfproxy argument list. */
export function argValue(args: readonly string[] | undefined, flag: string): string | undefined {
  const i = args?.indexOf(flag) ?? -1;
  return i >= 0 ? args![i + 1] : undefined;
}

export async function snapshotNode(ns: string, pinRoot?: string, cgroup?: string): Promise<Record<string, string>> {
  const snap: Record<string, string> = {};
  for (const tool of ['iptables-save', 'ip6tables-save']) {
    // Rules and user-defined chains are what a backend adds. Built-in chains appear once
    // any tool touched a table and stay (empty) — as with kube-proxy — so they are not compared.
    snap[tool] = (await out(ns, tool, []))
      .split('\n')
      .filter((l) => l.startsWith('-A ') || /^:\S+ - /.test(l))
      .join('\n');
  }
  snap.ipset = await out(ns, 'ipset', ['list', '-n']);
  const links = (await out(ns, 'ip', ['-o', 'link', 'show'])).split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '').filter(Boolean);
  snap.links = links.join(' ');
  for (const dev of links) {
    for (const dir of ['ingress', 'egress']) {
      const f = await out(ns, 'tc', ['filter', 'show', 'dev', dev, dir]);
      if (f.trim()) snap[`tc ${dev} ${dir}`] = f;
    }
    const x = await out(ns, 'ip', ['-d', 'link', 'show', 'dev', dev]);
    if (/prog\/xdp|xdp/.test(x)) snap[`xdp ${dev}`] = 'attached';
  }
  if (pinRoot) snap.bpffs = existsSync(pinRoot) ? readdirSync(pinRoot).join(' ') : '(absent)';
  if (cgroup) snap.cgroup = (await run('bpftool', ['cgroup', 'show', cgroup], { allowFailure: true })).stdout;
  return snap;
}

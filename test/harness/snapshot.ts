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
  // Every tool at once, and one `ip -d -o link` for all links' names and XDP state: in the
  // qemu guest each tool start costs 0.3–0.7 s, and node-a has a dozen links.
  const [v4, v6, ipset, linkLines] = await Promise.all([
    out(ns, 'iptables-save', []),
    out(ns, 'ip6tables-save', []),
    out(ns, 'ipset', ['list', '-n']),
    out(ns, 'ip', ['-d', '-o', 'link', 'show']),
  ]);
  // Rules and user-defined chains are what a backend adds. Built-in chains appear once
  // any tool touched a table and stay (empty) — as with kube-proxy — so they are not compared.
  const rules = (save: string) => save.split('\n').filter((l) => l.startsWith('-A ') || /^:\S+ - /.test(l)).join('\n');
  snap['iptables-save'] = rules(v4);
  snap['ip6tables-save'] = rules(v6);
  snap.ipset = ipset;
  const links = linkLines
    .split('\n')
    .map((line) => ({ dev: line.split(':')[1]?.trim().split('@')[0] ?? '', line }))
    .filter((l) => l.dev);
  snap.links = links.map((l) => l.dev).join(' ');
  const filters = await Promise.all(
    links.flatMap(({ dev }) => ['ingress', 'egress'].map(async (dir) => [`tc ${dev} ${dir}`, await out(ns, 'tc', ['filter', 'show', 'dev', dev, dir])] as const)),
  );
  for (const [key, f] of filters) if (f.trim()) snap[key] = f;
  for (const { dev, line } of links) if (/prog\/xdp|xdp/.test(line)) snap[`xdp ${dev}`] = 'attached';
  if (pinRoot) snap.bpffs = existsSync(pinRoot) ? readdirSync(pinRoot).join(' ') : '(absent)';
  if (cgroup) snap.cgroup = (await run('bpftool', ['cgroup', 'show', cgroup], { allowFailure: true })).stdout;
  return snap;
}

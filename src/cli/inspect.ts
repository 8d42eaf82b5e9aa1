// `bpfproxy inspect`: what is programmed, read back from the kernel, shown like `ipvsadm -Ln`.
import type { Logger } from 'pino';
import { createBackend } from '../backends/factory.js';
import type { InspectRow } from '../proxier/backend.js';
import type { CliOptions } from './options.js';

export function formatInspect(rows: InspectRow[]): string {
  const lines = ['Prot LocalAddress:Port         Kind          Service', '  -> RemoteAddress:Port'];
  const sorted = [...rows].sort((a, b) => (a.service + a.frontend < b.service + b.frontend ? -1 : 1));
  for (const r of sorted) {
    lines.push(`${r.protocol.padEnd(4)} ${r.frontend.padEnd(26)} ${r.kind.padEnd(13)} ${r.service}`);
    if (r.sourceRanges) lines.push(`  from ${r.sourceRanges.length ? r.sourceRanges.join(' ') : '(no source allowed)'}`);
    if (r.algorithm) lines.push(`  lb ${r.algorithm}${r.maglevTableSize ? ` (M=${r.maglevTableSize})` : ''}`);
    if (r.backends.length === 0) lines.push('  (no endpoints: rejected)');
    for (const b of r.backends) lines.push(`  -> ${b}`);
  }
  return lines.join('\n') + '\n';
}

/** `inspect --stats`: where xdp_lb is attached, and in which mode. */
export function formatXdpAttachments(rows: ReadonlyArray<{ interface: string; mode: string; progId: number }>): string {
  if (rows.length === 0) return 'XDP fast path (xdp_lb): not attached (--xdp=off, no external interface, or the mode was refused: see the log)\n';
  return ['XDP fast path (xdp_lb)', ...rows.map((r) => `  ${r.interface.padEnd(16)} ${r.mode.padEnd(8)} prog id ${r.progId}`)].join('\n') + '\n';
}

export async function inspectCommand(opts: CliOptions, log: Logger, args: { stats?: boolean } = {}): Promise<number> {
  if (args.stats && opts.backend !== 'ebpf') {
    process.stderr.write(`bpfproxy inspect --stats: only the ebpf backend has data plane counters (--backend=${opts.backend})\n`);
    return 2;
  }
  if (args.stats) {
    // Imported here so that inspecting another backend never loads the BPF addon.
    const { formatDatapathStats, openPinnedStats } = await import('../backends/ebpf/stats.js');
    const pinned = openPinnedStats(opts.backendConfig.pinRoot);
    if (!pinned) {
      process.stderr.write(`bpfproxy inspect --stats: no dp_stats pinned under ${opts.backendConfig.pinRoot} (has the ebpf proxy run?)\n`);
      return 1;
    }
    try {
      process.stdout.write(formatDatapathStats(pinned.read()));
      const { xdpAttachments } = await import('../backends/ebpf/xdp-attach.js');
      process.stdout.write(formatXdpAttachments(await xdpAttachments()));
    } finally {
      pinned.close();
    }
    return 0;
  }
  const backend = await createBackend(opts.backend, { ...opts.backendConfig, logger: log });
  try {
    process.stdout.write(formatInspect(await backend.inspect()));
  } finally {
    await backend.close?.();
  }
  return 0;
}

// `bpfproxy render`: print what a backend would program, without touching the kernel.
import type { Logger } from 'pino';
import type { CliOptions } from './options.js';
import { loadTable } from './one-shot-table.js';

export async function renderCommand(opts: CliOptions, log: Logger): Promise<number> {
  if (!opts.manifests) {
    process.stderr.write('bpfproxy render: --manifests DIR is required\n');
    return 2;
  }
  const table = await loadTable(opts.manifests, opts.nodeName, log, opts.serviceProxyName);
  switch (opts.backend) {
    case 'iptables': {
      const { IptablesBackend } = await import('../backends/iptables/index.js');
      process.stdout.write(new IptablesBackend({ ...opts.backendConfig }).render(table));
      return 0;
    }
    case 'ebpf': {
      const { renderText } = await import('../backends/ebpf/render-text.js');
      const { servesLocalhostNodePorts } = await import('../backends/ebpf/render.js');
      // The same rule a sync applies, so render still prints what a first sync writes.
      process.stdout.write(renderText(table, { localhostNodePorts: servesLocalhostNodePorts(opts.backendConfig), lb: opts.backendConfig.lb }));
      return 0;
    }
    case 'ipvs': {
      const { IpvsBackend } = await import('../backends/ipvs/index.js');
      const c = opts.backendConfig;
      process.stdout.write(new IpvsBackend({ scheduler: c.ipvsScheduler, clusterCIDRs: c.clusterCIDRs, masqueradeAll: c.masqueradeAll, nodePortAddresses: c.nodePortAddresses }).render(table));
      return 0;
    }
  }
}

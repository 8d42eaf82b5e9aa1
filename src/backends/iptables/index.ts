// --backend=iptables: kube-proxy's iptables mode. Each sync renders the whole ruleset
// per family and applies it with one iptables-restore --noflush per family (atomic per
// table: on failure the previous rules stay in force).
import type { Logger } from 'pino';
import { ipFamily } from '../../model/validate.js';
import type { IPFamily, ServiceTable, TableDiff } from '../../model/types.js';
import type { Backend, InspectRow, SyncOptions } from '../../proxier/backend.js';
import type { Metrics } from '../../metrics/metrics.js';
import { IptablesCli, IptablesRestoreError } from './iptables-cli.js';
import { inspectFromSave } from './inspect.js';
import { JUMP_RULES } from './jump-rules.js';
import { FILTER_CHAINS, NAT_CHAINS, renderRuleset } from './render.js';
import { parseSave } from './rule-tokens.js';

export interface IptablesBackendOptions {
  families?: IPFamily[];
  /** --cluster-cidr, one per family at most (e.g. 198.18.0.0/16,2001:db8:18::/48). */
  clusterCIDRs?: string[];
  masqueradeAll?: boolean;
  logger?: Logger;
  metrics?: Metrics;
}

const PER_SERVICE_CHAIN = /^KUBE-(SVC|SEP|EXT|FW|SVL)-/;

export class IptablesBackend implements Backend {
  readonly name = 'iptables' as const;
  private readonly clis: IptablesCli[];

  constructor(private readonly opts: IptablesBackendOptions = {}) {
    this.clis = (opts.families ?? [4, 6]).map((f) => new IptablesCli(f));
  }

  /** What would be applied for `table` (render subcommand); no kernel access. */
  render(table: ServiceTable): string {
    return this.clis
      .map((cli) => {
        const r = renderRuleset(table, this.renderOpts(cli.family));
        return `# IPv${cli.family}: ${cli.family === 4 ? 'iptables' : 'ip6tables'}-restore --noflush\n${r.filter}${r.nat}`;
      })
      .join('\n');
  }

  async sync(table: ServiceTable, _diff: TableDiff, _opts: SyncOptions): Promise<void> {
    for (const svc of table.services.values()) {
      if (svc.protocol === 'SCTP') this.opts.logger?.warn({ service: svc.key }, 'SCTP service skipped: this backend does not program SCTP');
    }
    for (const cli of this.clis) {
      const existing = parseSave(await cli.save('nat')).chains.filter((c) => PER_SERVICE_CHAIN.test(c));
      const r = renderRuleset(table, this.renderOpts(cli.family), existing);
      try {
        await cli.restore(r.filter + r.nat);
      } catch (e) {
        this.opts.metrics?.iptablesRestoreFailures.inc();
        if (e instanceof IptablesRestoreError) this.opts.logger?.error({ family: cli.family, line: e.line, rule: e.rule }, e.message);
        throw e;
      }
      for (const j of JUMP_RULES) await cli.ensureJump(j);
    }
  }

  async cleanup(): Promise<void> {
    for (const cli of this.clis) {
      for (const j of JUMP_RULES) await cli.deleteJump(j);
      const lines: string[] = [];
      for (const [table, base] of [['filter', FILTER_CHAINS], ['nat', NAT_CHAINS]] as const) {
        const present = parseSave(await cli.save(table)).chains.filter((c) => base.includes(c) || PER_SERVICE_CHAIN.test(c));
        if (present.length === 0) continue;
        // Declaring a chain in --noflush mode flushes it; then all can be deleted.
        lines.push(`*${table}`, ...present.map((c) => `:${c} - [0:0]`), ...present.map((c) => `-X ${c}`), 'COMMIT');
      }
      if (lines.length > 0) await cli.restore(lines.join('\n') + '\n');
    }
  }

  async inspect(): Promise<InspectRow[]> {
    const rows: InspectRow[] = [];
    for (const cli of this.clis) rows.push(...inspectFromSave(await cli.save('nat'), await cli.save('filter')));
    return rows;
  }

  private renderOpts(family: IPFamily) {
    return {
      family,
      clusterCIDR: this.opts.clusterCIDRs?.find((c) => ipFamily(c.split('/')[0]!) === family),
      masqueradeAll: this.opts.masqueradeAll,
    };
  }
}

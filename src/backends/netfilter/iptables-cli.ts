// The iptables binaries for one family. Everything goes through iptables-restore /
// iptables-save except the few jump rules in built-in chains.
import { ExecError, type ToolWrite, run, runWrite } from '../../util/exec.js';
import type { IPFamily } from '../../model/types.js';
import type { JumpRule } from './jumps.js';

export class IptablesRestoreError extends Error {
  constructor(
    readonly family: IPFamily,
    readonly line: number | undefined,
    readonly rule: string | undefined,
    readonly detail: string,
  ) {
    super(`iptables-restore (IPv${family}) failed${line !== undefined ? ` at line ${line}: ${rule ?? '?'}` : ''}: ${detail}`);
  }
}

/** Which iptables flavour: the system default (`iptables` alternative), or one named explicitly. */
export type IptablesMode = 'nft' | 'legacy';

export class IptablesCli {
  constructor(
    readonly family: IPFamily,
    /** Must match what the node uses (kube-proxy's wrapper picks the flavour holding rules). */
    readonly mode?: IptablesMode,
    /** Network namespace (/run/netns/NAME) to act on; default the caller's. */
    readonly netns?: string,
  ) {}

  private bin(tool: 'iptables' | 'iptables-save' | 'iptables-restore'): string {
    const base = this.family === 4 ? 'iptables' : 'ip6tables';
    return tool.replace('iptables', this.mode ? `${base}-${this.mode}` : base);
  }

  /** One atomic transaction per table; --noflush leaves chains we do not declare alone. */
  restoreWrite(text: string): ToolWrite {
    return { cmd: this.bin('iptables-restore'), args: ['-w', '5', '--noflush'], input: text };
  }

  async restore(text: string): Promise<void> {
    const w = this.restoreWrite(text);
    try {
      await runWrite(w, { timeoutMs: 60_000, netns: this.netns });
    } catch (e) {
      if (!(e instanceof ExecError)) throw e;
      // iptables-restore names the failing line ("line 7 failed"); show that rule.
      const { line, rule } = locateFailure(text, e.stderr);
      throw new IptablesRestoreError(this.family, line, rule, e.stderr.split('\n')[0]?.trim() || e.message);
    }
  }

  /** Whether `chain` exists in `table` (the canary check: cheap, lists one empty chain). */
  async chainExists(table: 'filter' | 'nat' | 'mangle', chain: string): Promise<boolean> {
    const r = await run(this.bin('iptables'), ['-w', '5', '-t', table, '-S', chain], { allowFailure: true, timeoutMs: 30_000, netns: this.netns });
    return r.code === 0;
  }

  async save(table: 'filter' | 'nat' | 'mangle'): Promise<string> {
    const r = await run(this.bin('iptables-save'), ['-t', table], { timeoutMs: 60_000, netns: this.netns });
    return r.stdout;
  }

  async ensureJump(j: JumpRule): Promise<void> {
    const spec = [j.from, ...j.args, '-j', j.to];
    const check = await run(this.bin('iptables'), ['-w', '5', '-t', j.table, '-C', ...spec], { allowFailure: true, netns: this.netns });
    if (check.code === 0) return;
    await run(this.bin('iptables'), ['-w', '5', '-t', j.table, '-I', ...spec], { netns: this.netns });
  }

  async deleteJump(j: JumpRule): Promise<void> {
    const spec = [j.from, ...j.args, '-j', j.to];
    // Delete every copy (a crashed older run may have inserted twice); bounded.
    for (let i = 0; i < 10; i++) {
      const r = await run(this.bin('iptables'), ['-w', '5', '-t', j.table, '-D', ...spec], { allowFailure: true, netns: this.netns });
      if (r.code !== 0) return;
    }
  }
}

/**
 * Finds the rule iptables-restore failed on. It names a line ("Error occurred at line: N");
 * with the nft backend some errors (a missing jump target) only surface at COMMIT, so then
 * the rule is found by the chain the message names.
 */
export function locateFailure(text: string, stderr: string): { line?: number; rule?: string } {
  const lines = text.split('\n');
  const m = /line (\d+) failed/.exec(stderr) ?? /Error occurred at line: (\d+)/.exec(stderr);
  if (!m) return {};
  let line = Number(m[1]);
  if (lines[line - 1] === 'COMMIT') {
    const chain = /Chain '([^']+)' does not exist/.exec(stderr)?.[1];
    const i = chain ? lines.findIndex((l) => l.startsWith('-A ') && l.endsWith(`-j ${chain}`)) : -1;
    if (i >= 0) line = i + 1;
  }
  return { line, rule: lines[line - 1] };
}

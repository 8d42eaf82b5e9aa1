// `bpfproxy render --backend=ipvs`: the tool runs of a first sync on an empty node, each as
// its command line and its stdin (what an operator would type to reproduce it by hand), after
// the services that could not be programmed.
import { type ToolWrite, formatWrite } from '../../util/exec.js';
import type { ServiceFailure } from './plan.js';

export function renderPlanText(writes: ToolWrite[], failed: ServiceFailure[]): string {
  const head = failed.map((f) => `# NOT PROGRAMMED: ${f.error}\n`).join('');
  return head + writes.map(formatWrite).join('\n');
}

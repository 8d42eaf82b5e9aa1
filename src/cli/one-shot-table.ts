// Reads a manifests directory once into a ServiceTable (for render), reporting problems.
import type { Logger } from 'pino';
import { buildServiceTable } from '../model/build-table.js';
import type { ServiceTable } from '../model/types.js';
import { ManifestsSource } from '../sources/manifests.js';
import { ObjectStore } from '../sources/store.js';

export async function loadTable(dir: string, nodeName: string, log: Logger, serviceProxyName?: string): Promise<ServiceTable> {
  const store = new ObjectStore();
  const src = new ManifestsSource(dir);
  const onProblem = (p: { source: string; object: string; field: string; message: string; kept?: boolean }) =>
    log.warn({ file: p.source, object: p.object, field: p.field }, `${p.kept ? 'ignored' : 'skipped'}: ${p.message}`);
  await src.start({ onEvent: (ev) => store.apply(ev), onProblem });
  await src.stop();
  const { table, problems } = buildServiceTable(store.snapshot(), { nodeName, serviceProxyName });
  problems.forEach(onProblem);
  return table;
}

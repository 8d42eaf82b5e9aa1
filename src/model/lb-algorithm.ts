// How the eBPF data plane picks a backend for a new flow: `random` (a random slot, today's
// behaviour) or `maglev` (consistent hashing of the 5-tuple: the same backend from every node,
// and few flows move when a backend leaves). --lb-algorithm sets it for every Service; the
// annotation overrides it for one Service. The other backends ignore both.
import { FieldError } from './validate.js';

export const LB_ALGORITHMS = ['random', 'maglev'] as const;
export type LbAlgorithm = (typeof LB_ALGORITHMS)[number];
export const LB_ALGORITHM_ANNOTATION = 'bpfproxy.io/lb-algorithm';

export function isLbAlgorithm(v: string): v is LbAlgorithm {
  return (LB_ALGORITHMS as readonly string[]).includes(v);
}

/** The annotation's algorithm, undefined when absent; throws a FieldError naming it when bad. */
export function annotatedLbAlgorithm(annotations: Record<string, string> | undefined): LbAlgorithm | undefined {
  const v = annotations?.[LB_ALGORITHM_ANNOTATION];
  if (v === undefined) return undefined;
  if (isLbAlgorithm(v)) return v;
  throw new FieldError(
    `metadata.annotations["${LB_ALGORITHM_ANNOTATION}"]`,
    `unknown load-balancing algorithm ${JSON.stringify(v)} (want ${LB_ALGORITHMS.join(' or ')}); the Service uses --lb-algorithm's`,
  );
}

// Writes test objects through the real API server, with the same interface as a manifests
// directory (test/harness/manifests.ts ManifestDir): a "file" is a named group of objects.
// Writing a file server-side-applies each object (its status, where a test sets one — Node
// addresses, LoadBalancer ingress — by merge patch) and deletes the objects the file held before but no longer does.
import type { ObjectWriter } from '../harness/manifests.js';
import type { TestCluster } from './cluster.js';

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  status?: unknown;
}

/** The API server refused a write (e.g. 422 Invalid, naming the field). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(message);
  }
}

/** Kinds without a namespace; every other kind lives in one ('default' unless given). */
const CLUSTER_SCOPED = new Set(['Node', 'Namespace', 'ClusterRole', 'ClusterRoleBinding']);

/** The collection an object is created in, from its apiVersion and kind (plural: kind + s/es). */
export function collectionPath(o: Pick<Obj, 'apiVersion' | 'kind' | 'metadata'>): string {
  const base = o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
  const plural = `${o.kind.toLowerCase()}${o.kind.endsWith('s') ? 'es' : 's'}`;
  const ns = CLUSTER_SCOPED.has(o.kind) ? '' : `/namespaces/${o.metadata.namespace ?? 'default'}`;
  return `${base}${ns}/${plural}`;
}

export function objectPath(o: Obj): string {
  return `${collectionPath(o)}/${o.metadata.name}`;
}

function id(o: Obj): string {
  return `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

export class ApiWriter implements ObjectWriter {
  private readonly files = new Map<string, Obj[]>();
  private readonly namespaces = new Set<string>(['default']);

  constructor(private readonly cluster: TestCluster) {}

  /** Server-side apply; throws with the API server's message (which object, which field). */
  async apply(o: Obj): Promise<void> {
    const ns = CLUSTER_SCOPED.has(o.kind) ? undefined : (o.metadata.namespace ?? 'default');
    if (ns && !this.namespaces.has(ns)) {
      await this.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      this.namespaces.add(ns);
    }
    const path = objectPath(o);
    const { status, ...spec } = o;
    const patch = () => this.cluster.request('PATCH', `${path}?fieldManager=bpfproxy-test&force=true`, spec, undefined, 'application/apply-patch+yaml');
    let r = await patch();
    // A changed clusterIP or addressType cannot be applied in place: replace the object,
    // as a user would (delete, create).
    if (r.status === 422 && r.text.includes('field is immutable')) {
      await this.delete(o);
      r = await patch();
    }
    if (r.status >= 300) throw new ApiError(`apply ${id(o)}: ${r.status} ${r.text}`, r.status, r.text);
    if (status !== undefined) {
      // A merge patch, as the kubelet writes a Node's status: server-side apply refuses a
      // dual-stack Node (one InternalIP per family), since it keys status.addresses by type
      // alone ("duplicate entries for key [type=InternalIP]", kubernetes/kubernetes#121896).
      const s = await this.cluster.request('PATCH', `${path}/status?fieldManager=bpfproxy-test`, { status }, undefined, 'application/merge-patch+json');
      if (s.status >= 300) throw new Error(`apply ${id(o)} status: ${s.status} ${s.text}`);
    }
  }

  async delete(o: Obj): Promise<void> {
    const r = await this.cluster.request('DELETE', objectPath(o));
    if (r.status >= 300 && r.status !== 404) throw new Error(`delete ${id(o)}: ${r.status} ${r.text}`);
  }

  /** The objects of `file` become exactly `objects`. */
  async write(file: string, objects: object[]): Promise<void> {
    const next = objects as Obj[];
    const keep = new Set(next.map(id));
    for (const o of this.files.get(file) ?? []) if (!keep.has(id(o))) await this.delete(o);
    // Slices after their Service, as a controller would write them.
    const order = (o: Obj) => (o.kind === 'Node' ? 0 : o.kind === 'Service' ? 1 : 2);
    // Recorded first: what a failed write did create is still removed by remove()/clear().
    this.files.set(file, next);
    for (const o of [...next].sort((a, b) => order(a) - order(b))) await this.apply(o);
  }

  async remove(file: string): Promise<void> {
    for (const o of this.files.get(file) ?? []) await this.delete(o);
    this.files.delete(file);
  }

  async clear(keep: string[] = []): Promise<void> {
    for (const f of [...this.files.keys()]) if (!keep.includes(f)) await this.remove(f);
  }
}

// One manifest file's text → Kubernetes objects. Pure. A document that is not a known
// object is reported (file, document, field) and skipped; a syntax error marks the whole
// file unreadable so the caller keeps that file's previous objects.
import type { KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { InputProblem } from '../model/types.js';
import { CLUSTER_SCOPED, SOURCE_KINDS, type SourceKind } from './types.js';

export interface ParsedObject {
  kind: SourceKind;
  key: string;
  object: KubernetesObject;
  /** `path#doc` for messages. */
  where: string;
}

export interface ParsedFile {
  objects: ParsedObject[];
  problems: InputProblem[];
  /** True when the file could not be read as YAML/JSON at all. */
  unreadable: boolean;
}

const API_VERSIONS: Record<SourceKind, string> = {
  Service: 'v1',
  EndpointSlice: 'discovery.k8s.io/v1',
  Node: 'v1',
  Pod: 'v1',
  Namespace: 'v1',
};

export function parseManifestText(path: string, text: string): ParsedFile {
  const problems: InputProblem[] = [];
  const docs: unknown[] = [];
  if (path.endsWith('.json')) {
    try {
      docs.push(JSON.parse(text));
    } catch (e) {
      problems.push({ source: path, object: '', field: '', message: `invalid JSON: ${(e as Error).message}` });
      return { objects: [], problems, unreadable: true };
    }
  } else {
    for (const d of parseAllDocuments(text)) {
      if ('errors' in d && d.errors.length > 0) {
        const err = d.errors[0]!;
        problems.push({ source: path, object: '', field: '', message: `invalid YAML: ${err.message.split('\n')[0]}` });
        return { objects: [], problems, unreadable: true };
      }
      docs.push(d.toJS());
    }
  }
  const objects: ParsedObject[] = [];
  docs.forEach((doc, i) => collect(doc, `${path}#${i}`, path, objects, problems));
  return { objects, problems, unreadable: false };
}

function collect(doc: unknown, where: string, path: string, out: ParsedObject[], problems: InputProblem[]): void {
  if (doc === null || doc === undefined) return; // empty document (e.g. trailing ---)
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    problems.push({ source: path, object: where, field: '', message: 'document is not an object' });
    return;
  }
  const o = doc as KubernetesObject & { items?: unknown[] };
  if (o.kind === 'List' || (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items))) {
    (o.items ?? []).forEach((item, j) => collect(item, `${where}.items[${j}]`, path, out, problems));
    return;
  }
  const kind = o.kind as SourceKind;
  const name = o.metadata?.name;
  const label = `${o.kind ?? '?'} ${o.metadata?.namespace ?? 'default'}/${name ?? '?'} (${where})`;
  if (!SOURCE_KINDS.includes(kind)) {
    problems.push({ source: path, object: label, field: 'kind', message: `unknown kind ${JSON.stringify(o.kind)}` });
    return;
  }
  if (o.apiVersion !== API_VERSIONS[kind]) {
    problems.push({
      source: path,
      object: label,
      field: 'apiVersion',
      message: `want ${API_VERSIONS[kind]} for ${kind}, got ${JSON.stringify(o.apiVersion)}`,
    });
    return;
  }
  if (typeof name !== 'string' || name === '') {
    problems.push({ source: path, object: label, field: 'metadata.name', message: 'missing' });
    return;
  }
  // Namespaced kinds default to "default" as kubectl apply would.
  const clusterScoped = CLUSTER_SCOPED.includes(kind);
  const object: KubernetesObject = clusterScoped ? o : { ...o, metadata: { ...o.metadata, namespace: o.metadata?.namespace ?? 'default' } };
  const key = clusterScoped ? name : `${object.metadata!.namespace}/${name}`;
  out.push({ kind, key, object, where });
}

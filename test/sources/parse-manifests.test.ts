import { describe, expect, it } from 'vitest';
import { parseManifestText } from '../../src/sources/parse-manifests.js';

describe('parseManifestText', () => {
  it('reads multi-document YAML and defaults the namespace', () => {
    const r = parseManifestText(
      'a.yaml',
      `apiVersion: v1\nkind: Service\nmetadata: {name: s1}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e1, namespace: ns}\n---\n`,
    );
    expect(r.problems).toEqual([]);
    expect(r.objects.map((o) => `${o.kind} ${o.key}`)).toEqual(['Service default/s1', 'EndpointSlice ns/e1']);
  });

  it('reads JSON and v1 Lists', () => {
    const r = parseManifestText('a.json', JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' } }] }));
    expect(r.objects.map((o) => `${o.kind} ${o.key}`)).toEqual(['Node node-a']);
  });

  it('reports an unknown kind with file and document, and keeps the rest', () => {
    const r = parseManifestText('a.yaml', `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n`);
    expect(r.objects).toHaveLength(1);
    expect(r.problems).toEqual([{ source: 'a.yaml', object: 'ConfigMap default/c (a.yaml#0)', field: 'kind', message: 'unknown kind "ConfigMap"' }]);
  });

  it('reports a wrong apiVersion and a missing name', () => {
    const r = parseManifestText('a.yaml', `apiVersion: v1beta1\nkind: Service\nmetadata: {name: s}\n---\napiVersion: v1\nkind: Service\nmetadata: {}\n`);
    expect(r.problems.map((p) => p.field)).toEqual(['apiVersion', 'metadata.name']);
  });

  it('marks a file with a YAML syntax error unreadable (the caller keeps its old objects)', () => {
    const r = parseManifestText('a.yaml', 'apiVersion: v1\nkind: Service\nmetadata: {name: [\n');
    expect(r.unreadable).toBe(true);
    expect(r.problems[0]?.message).toMatch(/^invalid YAML/);
  });

  it('marks malformed JSON unreadable', () => {
    expect(parseManifestText('a.json', '{"kind":').unreadable).toBe(true);
  });
});

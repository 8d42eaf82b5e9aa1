import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InputProblem } from '../../src/model/types.js';
import { ManifestsSource } from '../../src/sources/manifests.js';
import type { SourceEvent } from '../../src/sources/types.js';

const svcYaml = (name: string, ip = '198.19.1.1') => `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {clusterIP: ${ip}, ports: [{port: 80}]}\n`;

describe('ManifestsSource', () => {
  let dir: string;
  let src: ManifestsSource;
  let events: SourceEvent[];
  let problems: InputProblem[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bpfproxy-src-'));
    events = [];
    problems = [];
    src = new ManifestsSource(dir, { pollIntervalMs: 60_000 });
  });
  afterEach(async () => {
    await src.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const start = () => src.start({ onEvent: (e) => events.push(e), onProblem: (p) => problems.push(p) });
  const summary = () => events.map((e) => `${e.type} ${e.kind} ${e.key}`);

  it('emits ADDED, MODIFIED and DELETED as files change', async () => {
    await writeFile(join(dir, 'a.yaml'), svcYaml('s1'));
    await start();
    expect(summary()).toEqual(['ADDED Service default/s1']);
    await writeFile(join(dir, 'a.yaml'), svcYaml('s1', '198.19.1.2') + '---\n' + svcYaml('s2'));
    await src.rescan();
    await rm(join(dir, 'a.yaml'));
    await src.rescan();
    expect(summary()).toEqual([
      'ADDED Service default/s1',
      'MODIFIED Service default/s1',
      'ADDED Service default/s2',
      'DELETED Service default/s1',
      'DELETED Service default/s2',
    ]);
  });

  it('keeps the objects of a file that became unreadable', async () => {
    await writeFile(join(dir, 'a.yaml'), svcYaml('s1'));
    await start();
    await writeFile(join(dir, 'a.yaml'), 'kind: Service\nmetadata: {name: [');
    await src.rescan();
    expect(summary()).toEqual(['ADDED Service default/s1']);
    expect(problems[0]).toMatchObject({ source: join(dir, 'a.yaml') });
  });

  it('reports a duplicate object and keeps the first definition', async () => {
    await writeFile(join(dir, 'a.yaml'), svcYaml('s1', '198.19.1.1'));
    await writeFile(join(dir, 'b.yaml'), svcYaml('s1', '198.19.1.9'));
    await start();
    expect(events).toHaveLength(1);
    expect((events[0]!.object as { spec: { clusterIP: string } }).spec.clusterIP).toBe('198.19.1.1');
    expect(problems[0]?.message).toMatch(/duplicate object: already defined at .*a\.yaml#0/);
  });

  it('notices an edit through the file watcher without an explicit rescan', async () => {
    await start();
    await writeFile(join(dir, 'a.yaml'), svcYaml('s1'));
    const deadline = Date.now() + 5000;
    while (events.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(summary()).toEqual(['ADDED Service default/s1']);
  });
});

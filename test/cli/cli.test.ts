// The built CLI as users run it (bin/bpfproxy.js → dist/): help, render, and located errors.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/util/exec.js';

const BIN = fileURLToPath(new URL('../../bin/bpfproxy.js', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../examples/hostnames', import.meta.url));
const cli = (args: string[]) => run(process.execPath, [BIN, ...args], { allowFailure: true });

describe('bpfproxy CLI', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bpfproxy-cli-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('prints help', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('bpfproxy run');
  });

  it('renders the seed as iptables-restore input without touching the kernel', async () => {
    const r = await cli(['render', '--backend=iptables', '--manifests', EXAMPLES]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('-A KUBE-SERVICES -m comment --comment "default/hostnames cluster IP" -m tcp -p tcp -d 198.19.1.175/32 --dport 80 -j KUBE-SVC-YN5D6RYVEVZOH44Q');
    expect(r.stdout).not.toContain('198.18.1.5'); // the unready pod
  });

  it('logs a located problem for a bad object and still renders the rest', async () => {
    await writeFile(join(dir, 'ok.yaml'), `apiVersion: v1\nkind: Service\nmetadata: {name: ok}\nspec: {clusterIP: 198.19.1.9, ports: [{port: 80}]}\n`);
    await writeFile(join(dir, 'bad.yaml'), `apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {clusterIP: 198.19.1.9, ports: [{port: 0}]}\n`);
    const r = await cli(['render', '--backend=iptables', '--manifests', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('default/ok has no endpoints');
    const problem = r.stderr.split('\n').map((l) => (l ? JSON.parse(l) : {})).find((l) => l.object === 'Service default/bad');
    expect(problem).toMatchObject({ file: join(dir, 'bad.yaml'), field: 'spec.ports[0].port' });
  });

  it('rejects an unknown backend and a bad duration with exit 2', async () => {
    expect((await cli(['run', '--backend=nft'])).stderr).toContain('--backend: want one of');
    expect((await cli(['run', '--sync-period=soon'])).code).toBe(2);
  });
});

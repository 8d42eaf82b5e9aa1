// Manifests source: a directory of YAML/JSON Kubernetes objects, watched for edits.
// fs.watch gives prompt notice; a slow poll catches what inotify misses (editors that
// rename files, network filesystems). Emits the same events as the Kubernetes source.
import { type FSWatcher, watch } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { InputProblem } from '../model/types.js';
import { type ParsedObject, parseManifestText } from './parse-manifests.js';
import type { Source, SourceHandlers } from './types.js';

interface FileState {
  mtimeMs: number;
  size: number;
  objects: ParsedObject[];
}

interface Current {
  obj: ParsedObject;
  source: string;
  fingerprint: string;
}

export interface ManifestsSourceOptions {
  /** Poll interval as a safety net behind fs.watch. */
  pollIntervalMs?: number;
  /** Debounce for bursts of fs events (an editor writes several times). */
  debounceMs?: number;
}

const MANIFEST_EXT = /\.(ya?ml|json)$/;

export class ManifestsSource implements Source {
  private readonly files = new Map<string, FileState>();
  private readonly current = new Map<string, Current>();
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private scanning: Promise<void> = Promise.resolve();
  private handlers: SourceHandlers | undefined;
  private stopped = false;

  constructor(
    readonly dir: string,
    private readonly opts: ManifestsSourceOptions = {},
  ) {}

  async start(h: SourceHandlers): Promise<void> {
    this.handlers = h;
    await this.rescan();
    h.onSynced?.();
    try {
      this.watcher = watch(this.dir, { recursive: true }, () => this.schedule());
      this.watcher.on('error', () => undefined); // the poll keeps working
    } catch {
      // recursive watch unsupported: rely on polling
    }
    this.poll = setInterval(() => this.schedule(), this.opts.pollIntervalMs ?? 1000);
    this.poll.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.poll);
    clearTimeout(this.debounce);
    await this.scanning;
  }

  /** Rescan now (tests and `render` use it; the watcher calls it debounced). */
  rescan(): Promise<void> {
    this.scanning = this.scanning.then(() => this.scanOnce());
    return this.scanning;
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.rescan(), this.opts.debounceMs ?? 50);
  }

  private async scanOnce(): Promise<void> {
    const h = this.handlers;
    if (!h || this.stopped) return;
    const problems: InputProblem[] = [];
    const paths = await listManifestFiles(this.dir).catch((e: Error) => {
      problems.push({ source: this.dir, object: '', field: '', message: `cannot list directory: ${e.message}` });
      return undefined;
    });
    if (!paths) {
      problems.forEach((p) => h.onProblem(p));
      return; // keep everything as it was
    }
    let changed = paths.length !== this.files.size;
    const seenFiles = new Set(paths);
    for (const p of [...this.files.keys()]) if (!seenFiles.has(p)) this.files.delete(p);
    for (const path of paths) {
      if (await this.refreshFile(path, problems)) changed = true;
    }
    if (!changed) return;
    this.emitChanges(paths, problems);
    problems.forEach((p) => h.onProblem(p));
  }

  /** Re-reads a file whose size/mtime changed; returns whether anything was re-read. */
  private async refreshFile(path: string, problems: InputProblem[]): Promise<boolean> {
    let st;
    try {
      st = await stat(path);
    } catch {
      return false; // vanished between readdir and stat: next scan drops it
    }
    const prev = this.files.get(path);
    if (prev && prev.mtimeMs === st.mtimeMs && prev.size === st.size) return false;
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text === undefined) return false;
    const parsed = parseManifestText(path, text);
    problems.push(...parsed.problems);
    // An unreadable file keeps its previous objects: a half-saved edit must not
    // withdraw services that were working.
    const objects = parsed.unreadable ? (prev?.objects ?? []) : parsed.objects;
    this.files.set(path, { mtimeMs: st.mtimeMs, size: st.size, objects });
    return true;
  }

  private emitChanges(paths: string[], problems: InputProblem[]): void {
    const h = this.handlers!;
    const desired = new Map<string, Current>();
    for (const path of paths) {
      for (const obj of this.files.get(path)?.objects ?? []) {
        const id = `${obj.kind}/${obj.key}`;
        const first = desired.get(id);
        if (first) {
          problems.push({
            source: path,
            object: `${obj.kind} ${obj.key} (${obj.where})`,
            field: 'metadata.name',
            message: `duplicate object: already defined at ${first.obj.where}; this copy is ignored`,
          });
          continue;
        }
        desired.set(id, { obj, source: path, fingerprint: JSON.stringify(obj.object) });
      }
    }
    for (const [id, cur] of desired) {
      const old = this.current.get(id);
      if (old && old.fingerprint === cur.fingerprint) continue;
      this.current.set(id, cur);
      h.onEvent({ type: old ? 'MODIFIED' : 'ADDED', kind: cur.obj.kind, key: cur.obj.key, object: cur.obj.object, source: cur.source });
    }
    for (const [id, old] of [...this.current]) {
      if (desired.has(id)) continue;
      this.current.delete(id);
      h.onEvent({ type: 'DELETED', kind: old.obj.kind, key: old.obj.key, object: old.obj.object, source: old.source });
    }
  }
}

async function listManifestFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  for (const e of entries) {
    if (!e.isFile() || e.name.startsWith('.') || !MANIFEST_EXT.test(e.name)) continue;
    // Node 20 sets parentPath (and the deprecated path) on recursive entries.
    const parent = (e as { parentPath?: string; path?: string }).parentPath ?? (e as { path?: string }).path ?? dir;
    out.push(join(parent, e.name));
  }
  return out.sort();
}

// Kubernetes source: client-node informers (ListWatch) for Services, EndpointSlices and
// this node's Node, emitting the same events as the manifests source.
//
// client-node's ListWatch relists on 410 Gone, but we guard against the rest of its
// behaviour (issue 11, read from its 1.4.0 code):
// - any other error (API server down, 403, a failed list) stops it for good: we restart
//   it with jittered exponential backoff. A restart resumes the watch from the last
//   resourceVersion; when that is compacted the server answers 410 and it relists, and the
//   relist emits a delete for every object that is gone.
// - it never asks for bookmarks: our Watch wrapper adds allowWatchBookmarks, so a quiet
//   watch keeps a fresh resourceVersion, and a server-side timeoutSeconds, so no watch
//   lives forever on a half-dead connection.
// - a handler that throws becomes an unhandled rejection: our handlers never throw.
// - it has no notion of "synced": we count an informer synced once its list went through.
// A watchdog logs when an informer has heard nothing, not even a bookmark, for too long.
import { CoreV1Api, DiscoveryV1Api, type KubeConfig, type KubernetesObject, ListWatch, Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { HEADLESS_LABEL, PROXY_NAME_LABEL } from '../model/build-table.js';
import type { SourceEvent, SourceHandlers, SourceKind, Source } from './types.js';

export interface KubernetesSourceOptions {
  nodeName: string;
  /** Only Services (and their slices) labelled service-proxy-name=NAME; unset: only unlabelled ones. */
  serviceProxyName?: string;
  /** Log (and count) an informer that heard nothing (no event, no bookmark) for this long. */
  staleAfterMs?: number;
  /** Backoff between informer restarts: base doubling to max, ±50 % jitter. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Called on every informer restart after an error (metric). */
  onRestart?: (resource: string, err: unknown) => void;
  /** Called when the watchdog finds an informer quiet for staleAfterMs (metric). */
  onStale?: (resource: string) => void;
  /** Cluster DNS: also watch Namespaces, every Service and slice, and (pods: true) Pods. */
  dns?: { pods: boolean };
}

/** kube-proxy's selector: this proxy's Services only, never headless ones. */
export function serviceLabelSelector(serviceProxyName?: string): string {
  const proxy = serviceProxyName ? `${PROXY_NAME_LABEL}=${serviceProxyName}` : `!${PROXY_NAME_LABEL}`;
  return `${proxy},!${HEADLESS_LABEL}`;
}

/** Delay before restart number `attempt` (0-based): base·2^attempt capped at max, ±50 %. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const d = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(d * (0.5 + random()));
}

/** client-go's reflector watches for 5–10 min; the server then closes and we re-watch. */
function watchTimeoutSeconds(): number {
  return 300 + Math.floor(Math.random() * 300);
}

interface ObjectMeta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

interface InformerSpec {
  kind: SourceKind;
  path: string;
  list: () => Promise<{ items: KubernetesObject[]; metadata?: { resourceVersion?: string } }>;
  labelSelector?: string;
  fieldSelector?: string;
}

/** One ListWatch and what we keep about it. */
class Informer {
  readonly lw: ListWatch<KubernetesObject>;
  synced = false;
  lastHeardAt = Date.now();
  staleLogged = false;
  restarts = 0;
  /** Successful lists: 1 at start, +1 per relist (after 410 Gone). */
  lists = 0;
  private failures = 0;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private listedSinceWatch = false;
  private syncedWaiters: Array<() => void> = [];

  constructor(
    private readonly spec: InformerSpec,
    kc: KubeConfig,
    private readonly emit: (ev: SourceEvent) => void,
    private readonly log: Logger,
    private readonly opts: KubernetesSourceOptions,
  ) {
    const inner = new Watch(kc);
    // The wrapper asks for bookmarks and a server-side timeout, and notes when a list's
    // items have all been applied: ListWatch watches right after it applied them.
    const watch = {
      watch: (path: string, qp: Record<string, unknown>, cb: (phase: string, obj: unknown, raw: unknown) => void, done: (err: unknown) => void) => {
        if (this.listedSinceWatch) this.markSynced();
        this.listedSinceWatch = false;
        const heard = (phase: string, obj: unknown, raw: unknown) => {
          this.lastHeardAt = Date.now();
          this.staleLogged = false;
          this.failures = 0;
          cb(phase, obj, raw);
        };
        return inner.watch(path, { ...qp, allowWatchBookmarks: 'true', timeoutSeconds: String(watchTimeoutSeconds()) }, heard, done);
      },
    } as unknown as Watch;
    const list = async () => {
      const l = await spec.list();
      this.lists++;
      this.listedSinceWatch = true;
      this.lastHeardAt = Date.now();
      this.failures = 0;
      return l;
    };
    this.lw = new ListWatch(spec.path, watch, list as never, false, spec.labelSelector, spec.fieldSelector);
    const on = (type: SourceEvent['type']) => (obj: KubernetesObject) => this.deliver(type, obj);
    this.lw.on('add', on('ADDED'));
    this.lw.on('update', on('MODIFIED'));
    this.lw.on('delete', on('DELETED'));
    this.lw.on('error', (err: unknown) => this.onError(err));
  }

  get resource(): string {
    return this.spec.kind;
  }

  start(): void {
    this.stopped = false;
    this.lw.start().catch((err: unknown) => this.onError(err));
  }

  whenSynced(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((r) => this.syncedWaiters.push(r));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    void this.lw.stop();
    this.syncedWaiters.splice(0).forEach((w) => w());
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    this.syncedWaiters.splice(0).forEach((w) => w());
  }

  /** Never throws: ListWatch calls us from an async function nobody awaits. */
  private deliver(type: SourceEvent['type'], obj: KubernetesObject): void {
    try {
      const m = (obj as ObjectMeta).metadata ?? {};
      const key = m.namespace ? `${m.namespace}/${m.name ?? ''}` : (m.name ?? '');
      this.emit({ type, kind: this.spec.kind, key, object: obj, source: 'api' });
    } catch (e) {
      this.log.error({ err: e, kind: this.spec.kind }, 'event handler failed; event dropped');
    }
  }

  private onError(err: unknown): void {
    // stop() aborts the watch, which reports an AbortError.
    if (this.stopped || (err as { name?: string } | undefined)?.name === 'AbortError') return;
    clearTimeout(this.retry);
    const delay = backoffDelay(this.failures++, this.opts.backoffBaseMs ?? 1000, this.opts.backoffMaxMs ?? 30_000);
    this.restarts++;
    this.log.warn({ resource: this.spec.kind, err: describeError(err), retryInMs: delay, restarts: this.restarts }, 'informer stopped; restarting');
    try {
      this.opts.onRestart?.(this.spec.kind, err);
    } catch {
      // a metric must not stop the restart
    }
    this.retry = setTimeout(() => {
      if (!this.stopped) this.start();
    }, delay);
  }
}

function describeError(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { statusCode?: number; code?: number | string; message?: string; body?: unknown };
    const status = e.statusCode ?? (typeof e.code === 'number' ? e.code : undefined);
    return [status, e.code !== status ? e.code : undefined, e.message].filter((x) => x !== undefined && x !== '').join(' ');
  }
  return String(err);
}

export class KubernetesSource implements Source {
  private readonly informers: Informer[];
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    private readonly kc: KubeConfig,
    private readonly opts: KubernetesSourceOptions,
    private readonly log: Logger,
    private emitTo: (ev: SourceEvent) => void = () => undefined,
  ) {
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    // With cluster DNS the Services and slices are watched whole (DNS names headless and
    // other proxies' Services too) and the proxier's selector is applied by ProxiedFilter.
    const labelSelector = opts.dns ? undefined : serviceLabelSelector(opts.serviceProxyName);
    const emit = (ev: SourceEvent) => this.emitTo(ev);
    const fieldSelector = `metadata.name=${opts.nodeName}`;
    const specs: InformerSpec[] = [
      { kind: 'Service', path: '/api/v1/services', labelSelector, list: () => core.listServiceForAllNamespaces({ labelSelector }) as never },
      {
        kind: 'EndpointSlice',
        path: '/apis/discovery.k8s.io/v1/endpointslices',
        labelSelector,
        list: () => discovery.listEndpointSliceForAllNamespaces({ labelSelector }) as never,
      },
      { kind: 'Node', path: '/api/v1/nodes', fieldSelector, list: () => core.listNode({ fieldSelector }) as never },
    ];
    if (opts.dns) specs.push({ kind: 'Namespace', path: '/api/v1/namespaces', list: () => core.listNamespace() as never });
    if (opts.dns?.pods) specs.push({ kind: 'Pod', path: '/api/v1/pods', list: () => core.listPodForAllNamespaces() as never });
    this.informers = specs.map((s) => new Informer(s, kc, emit, log, opts));
  }

  /**
   * Starts every informer and resolves once each has listed (kube-proxy waits for its
   * caches too); onSynced then. Also resolves when stop() comes first, without onSynced.
   */
  async start(h: SourceHandlers): Promise<void> {
    this.emitTo = (ev) => h.onEvent(ev);
    for (const i of this.informers) i.start();
    const staleAfter = this.opts.staleAfterMs ?? 5 * 60_000;
    this.watchdog = setInterval(() => this.checkStale(staleAfter), Math.min(30_000, Math.max(100, staleAfter / 4)));
    this.watchdog.unref();
    await Promise.all(this.informers.map((i) => i.whenSynced()));
    if (this.informers.every((i) => i.synced)) h.onSynced?.();
  }

  private checkStale(staleAfterMs: number): void {
    const now = Date.now();
    for (const i of this.informers) {
      const quiet = now - i.lastHeardAt;
      if (!i.synced || quiet < staleAfterMs) continue;
      // Logged once per quiet spell. Not restarted from here: ListWatch's stop() aborts
      // asynchronously and its late abort would kill the new watch. The server-side
      // timeoutSeconds ends every watch on a live connection within 10 min anyway.
      if (i.staleLogged) continue;
      i.staleLogged = true;
      this.log.warn({ resource: i.resource, quietSeconds: Math.round(quiet / 1000) }, 'no event or bookmark from the API server for too long; the watch may be stuck');
      this.opts.onStale?.(i.resource);
    }
  }

  /** Informer restarts after errors, by resource (tests, inspect). */
  restarts(): Record<string, number> {
    return Object.fromEntries(this.informers.map((i) => [i.resource, i.restarts]));
  }

  /** Successful lists by resource: more than 1 means it relisted (410 Gone). */
  lists(): Record<string, number> {
    return Object.fromEntries(this.informers.map((i) => [i.resource, i.lists]));
  }

  async stop(): Promise<void> {
    clearInterval(this.watchdog);
    for (const i of this.informers) i.stop();
  }
}

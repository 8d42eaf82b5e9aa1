// Keeps the ServiceTable up to date one Service at a time (kube-proxy's change tracker):
// each source event re-parses only its own object and marks the Service(s) it touches;
// takeChanges() rebuilds just those and reports, per service port, what it was and what
// it is now. Cost per event is one Service and its slices, whatever the cluster size.
//
// Same rules as the whole-table build (build-table.ts), which stays the reference a test
// compares this against: an object that turns invalid keeps its last valid form, problems
// name object and field, and slices of one Service are merged in slice-name order.
import { isDeepStrictEqual } from 'node:util';
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import type { SourceEvent } from '../sources/types.js';
import {
  type ParsedSlice, type Sourced, describeObj, nodeInfo, objectId, parseSlice, problem, serviceEntries, sliceServiceId,
} from './build-table.js';
import type { InputProblem, NodeInfo, ServicePortChange, ServicePortEntry, ServiceTable } from './types.js';

export interface TrackerOptions {
  nodeName: string;
  /** --service-proxy-name (see BuildOptions). */
  serviceProxyName?: string;
}

export interface TrackedChanges {
  /** Service ports whose entry changed since the last call, sorted by key. */
  changes: ServicePortChange[];
  /** Problems not reported before (each distinct problem once while it lasts). */
  problems: InputProblem[];
  /** What the proxy reads from a Node changed (addresses for NodePorts, pod CIDRs, zone): every service port may render differently. */
  nodesChanged: boolean;
}

interface GoodSlice {
  serviceId: string;
  slice: ParsedSlice;
}

export class ServiceChangeTracker {
  private readonly services = new Map<string, ServicePortEntry>();
  private readonly nodes = new Map<string, NodeInfo>();
  /** The table every backend reads; entries are replaced, never mutated. */
  readonly table: ServiceTable;

  private readonly serviceObjs = new Map<string, Sourced<V1Service>>();
  /** Service id → the keys of its entries now in the table (last valid form). */
  private readonly entryKeys = new Map<string, string[]>();
  /** Slice id → its last valid parse. */
  private readonly slices = new Map<string, GoodSlice>();
  /** Service id → its slices' ids. */
  private readonly slicesOf = new Map<string, Set<string>>();
  /** Object (`Kind ns/name`) → its current problems, as `source|object|field|message`. */
  private readonly problemsOf = new Map<string, Map<string, InputProblem>>();
  /** Problems raised since the last takeChanges(), by object: reported if still current then. */
  private readonly fresh = new Map<string, Set<string>>();
  private dirty = new Set<string>();
  /** Entries as they were before the first change since the last takeChanges(). */
  private readonly before = new Map<string, ServicePortEntry | undefined>();
  private nodesChanged = false;

  constructor(private readonly opts: TrackerOptions) {
    this.table = { services: this.services, nodeName: opts.nodeName, nodes: this.nodes };
  }

  onEvent(ev: SourceEvent): void {
    const deleted = ev.type === 'DELETED';
    switch (ev.kind) {
      case 'Service':
        if (deleted) this.serviceObjs.delete(ev.key);
        else this.serviceObjs.set(ev.key, { obj: ev.object as V1Service, source: ev.source });
        this.dirty.add(ev.key);
        return;
      case 'EndpointSlice':
        this.onSlice(ev.key, deleted ? undefined : { obj: ev.object as V1EndpointSlice, source: ev.source });
        return;
      case 'Node':
        this.onNode(ev.key, deleted ? undefined : { obj: ev.object as V1Node, source: ev.source });
        return;
      case 'Pod':
      case 'Namespace':
        return; // not part of the service table (DNS reads them)
    }
  }

  takeChanges(): TrackedChanges {
    for (const id of this.dirty) this.rebuildService(id);
    this.dirty = new Set();
    const changes: ServicePortChange[] = [];
    for (const [key, previous] of this.before) {
      const current = this.services.get(key);
      if (previous === current || (previous && current && isDeepStrictEqual(previous, current))) continue;
      const c: ServicePortChange = { key };
      if (previous) c.previous = previous;
      if (current) c.current = current;
      changes.push(c);
    }
    this.before.clear();
    changes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const problems: InputProblem[] = [];
    for (const [object, ids] of this.fresh) {
      for (const id of ids) {
        const p = this.problemsOf.get(object)?.get(id);
        if (p) problems.push(p);
      }
    }
    this.fresh.clear();
    const out = { changes, problems, nodesChanged: this.nodesChanged };
    this.nodesChanged = false;
    return out;
  }

  private onSlice(id: string, s: Sourced<V1EndpointSlice> | undefined): void {
    const old = this.slices.get(id);
    let good: GoodSlice | undefined;
    if (s) {
      const what = describeObj('EndpointSlice', s.obj.metadata);
      try {
        const parsed = parseSlice(s.obj);
        good = parsed && { serviceId: sliceServiceId(s.obj, parsed.service), slice: parsed.slice };
        this.setProblems(what, []);
      } catch (e) {
        this.setProblems(what, [problem(s.source, what, e)]);
        good = old; // keep its last valid form
      }
    } else {
      this.setProblems(`EndpointSlice ${id}`, []);
    }
    if (old) {
      this.slicesOf.get(old.serviceId)?.delete(id);
      this.dirty.add(old.serviceId);
    }
    if (good) {
      this.slices.set(id, good);
      let set = this.slicesOf.get(good.serviceId);
      if (!set) this.slicesOf.set(good.serviceId, (set = new Set()));
      set.add(id);
      this.dirty.add(good.serviceId);
    } else {
      this.slices.delete(id);
    }
  }

  private onNode(name: string, n: Sourced<V1Node> | undefined): void {
    const before = this.nodes.get(name);
    if (!n) {
      this.nodes.delete(name);
      this.setProblems(`Node ${name}`, []);
    } else {
      const problems: InputProblem[] = [];
      const info = nodeInfo(n, problems);
      this.setProblems(`Node ${n.obj.metadata?.name ?? '?'}`, problems);
      // An invalid Node is skipped, as the whole-table build does.
      if (info) this.nodes.set(info.name, info);
      else this.nodes.delete(name);
    }
    // Only what the proxy uses counts (addresses, pod CIDRs, zone): the kubelet's status
    // updates of the Node change none of it and must not cost a full sync each.
    if (!isDeepStrictEqual(before, this.nodes.get(name))) this.nodesChanged = true;
  }

  private rebuildService(id: string): void {
    const s = this.serviceObjs.get(id);
    let entries: ServicePortEntry[] = [];
    if (s) {
      const what = describeObj('Service', s.obj.metadata);
      const problems: InputProblem[] = [];
      const sliceIds = [...(this.slicesOf.get(objectId(s.obj.metadata)) ?? [])].sort();
      const fresh = serviceEntries(s, sliceIds.map((x) => this.slices.get(x)!.slice), this.opts, problems);
      this.setProblems(what, problems);
      // Invalid now: the table keeps its last valid entries as they are (without a valid
      // spec they cannot be rebuilt with the current endpoints either).
      if (fresh === undefined) return;
      entries = fresh;
    } else {
      this.setProblems(`Service ${id}`, []);
    }
    const keys = new Set(entries.map((e) => e.key));
    for (const key of this.entryKeys.get(id) ?? []) if (!keys.has(key)) this.replace(key, undefined);
    for (const e of entries) this.replace(e.key, e);
    if (entries.length) this.entryKeys.set(id, [...keys]);
    else this.entryKeys.delete(id);
  }

  private replace(key: string, entry: ServicePortEntry | undefined): void {
    if (!this.before.has(key)) this.before.set(key, this.services.get(key));
    if (entry) this.services.set(key, entry);
    else this.services.delete(key);
  }

  private setProblems(object: string, problems: InputProblem[]): void {
    const old = this.problemsOf.get(object);
    const now = new Map(problems.map((p) => [`${p.source}|${p.object}|${p.field}|${p.message}`, p]));
    for (const id of now.keys()) {
      if (old?.has(id)) continue;
      let f = this.fresh.get(object);
      if (!f) this.fresh.set(object, (f = new Set()));
      f.add(id);
    }
    if (now.size) this.problemsOf.set(object, now);
    else this.problemsOf.delete(object);
  }
}

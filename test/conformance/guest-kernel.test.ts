// The conformance suite in a second kernel: Debian's 6.1 under qemu (test/vm/guest.ts).
// IPVS only exists there (this host kernel has no IPVS and no dummy driver); ebpf and
// iptables run there too, so the matrix shows every backend on both kernels.
//
// On the host this boots ONE guest that runs the backends' suite files
// (test/conformance/<backend>.test.ts, which inside the guest are plain
// defineConformance calls) plus the IPVS and eBPF kernel tests, then reports each case
// from the results JSON the guest wrote into .conformance/ (shared read-write), so the
// matrix gets "<backend> (guest 6.1…)" columns and this run shows every case.
// The reference column kube-proxy/ipvs (the real kube-proxy in IPVS mode) runs here too,
// with its own API server started inside the guest, and with it the IPVS differential, in
// a second vitest beside ours (guestStreams).
//   BPFPROXY_GUEST_BACKENDS=ipvs,iptables,ebpf,kube-proxy/ipvs (default) picks the backends.
//   BPFPROXY_VM_VERBOSE=1 streams the guest's output.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeKernel, kernelRequired, kernelUnavailableReason } from '../kernel-required.js';
import { REPO_ROOT, guestUnavailableReason, inGuest, runInGuest } from '../vm/guest.js';
import { BACKENDS } from './backends.js';
import { CASES } from './cases/index.js';
import { type CaseResult, RESULTS_DIR } from './results.js';

const GUEST_BACKENDS = (process.env.BPFPROXY_GUEST_BACKENDS ?? 'ipvs,iptables,ebpf,kube-proxy/ipvs').split(',').filter(Boolean);
const IPVS_KERNEL_TESTS = 'test/backends/ipvs/kernel.test.ts';
/** Our IPVS output against kube-proxy's (it needs the API server the reference column starts). */
const IPVS_DIFFERENTIAL = 'test/backends/ipvs/kube-proxy-differential.test.ts';
/** A backend's suite file and the prefix of its results file ('/' in reference names). */
const suiteFile = (b: string) => `test/conformance/${b.replace('/', '-')}.test.ts`;
const resultsPrefix = (b: string) => `results-${b.replace('/', '_')}-`;
/** tc_lb's packet fixtures, source ranges, Maglev and conntrack GC (BPF_PROG_TEST_RUN), and
 * the socket LB: the 6.1 verifier and helpers must take the programs too, not only 6.18. */
const EBPF_KERNEL_TESTS = [
  'test/backends/ebpf/tc-prog.test.ts',
  'test/backends/ebpf/tc-src-range.test.ts',
  'test/backends/ebpf/tc-maglev.test.ts',
  'test/backends/ebpf/conntrack-gc.test.ts',
  // The addon on 6.1: map-in-map (maglev's BPF_F_INNER_MAP), batch ops, tc attach in a netns.
  'test/backends/ebpf/libbpf.test.ts',
  // Socket LB and closing sockets to removed backends: 6.1 has no bpf_sock_destroy kfunc,
  // so there the netlink SOCK_DESTROY fallback is the path under test.
  'test/backends/ebpf/sock-lb.test.ts',
];
/** Each stream's vitest results, and the prefix the host clears before a run. */
const VITEST_JSON_PREFIX = 'guest-vitest';
/** The kube-proxy/ipvs column (921 s measured: kube-proxy's IPVS syncs take 8–13 s under TCG)
 * plus the IPVS differential (its own API server, five object sets), with slack. */
const KUBE_PROXY_IPVS_S = 2100;
/** Boot + vitest start (15–35 s under TCG) + 5–9 min per backend suite (measured: 338, 409
 * and 544 s for ebpf, ipvs, iptables) + the IPVS kernel tests (~1 min), with slack: 300 s
 * per backend was hit once the cases waited for syncs instead of sleeping. */
const OUR_BACKEND_S = 700;
const REFERENCE = 'kube-proxy/ipvs';

/**
 * Before vitest: load the modules a node has loaded long before its proxy starts (each costs
 * ~0.5 s under TCG and would land in the first sync of a proxy under test), and read the
 * CLI's code once so the proxies' starts find it in the guest's page cache. ip_vs_ovf stays
 * out: the IPVS kernel tests hide it to play "scheduler module missing".
 */
const WARM_UP = [
  'modprobe -a ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sh ip_vs_dh ip_vs_sed ip_vs_nq ip_vs_mh',
  'ip_set ip_set_hash_ip ip_set_hash_ipport ip_set_hash_ipportip ip_set_bitmap_port xt_set xt_comment xt_mark',
  'xt_addrtype xt_conntrack xt_MASQUERADE xt_statistic xt_recent nft_compat nft_chain_nat nf_reject_ipv4 nf_reject_ipv6',
  'ipt_REJECT ip6t_REJECT sch_ingress cls_bpf dummy veth bridge tun ipip 2>/dev/null; node bin/bpfproxy.js --help >/dev/null',
].join(' ');

/**
 * What the guest runs, as two vitest runs side by side: our backends' suites and kernel
 * tests, and the reference (kube-proxy/ipvs and the IPVS differential, on their own API
 * server). Within a stream files run one at a time; the streams overlap because the
 * reference mostly waits on kube-proxy's syncs (a chain of tool runs, one CPU at a time)
 * while ours keep the other CPU busy. Each suite has its own namespaces, so they can.
 */
interface Stream {
  name: string;
  files: string[];
  /** Its vitest JSON report in RESULTS_DIR. */
  json: string;
  /** Its time bound in seconds. */
  budgetS: number;
}

function guestStreams(): Stream[] {
  const ours = GUEST_BACKENDS.filter((b) => b !== REFERENCE);
  const oursFiles = ours.map(suiteFile);
  if (ours.includes('ipvs')) oursFiles.push(IPVS_KERNEL_TESTS);
  if (ours.includes('ebpf')) oursFiles.push(...EBPF_KERNEL_TESTS);
  const streams: Stream[] = [];
  if (oursFiles.length > 0) streams.push({ name: ours.join(', '), files: oursFiles, json: `${VITEST_JSON_PREFIX}-ours.json`, budgetS: ours.length * OUR_BACKEND_S });
  if (GUEST_BACKENDS.includes(REFERENCE)) {
    streams.push({ name: `${REFERENCE} + IPVS differential`, files: [suiteFile(REFERENCE), IPVS_DIFFERENTIAL], json: `${VITEST_JSON_PREFIX}-reference.json`, budgetS: KUBE_PROXY_IPVS_S });
  }
  return streams;
}

/** Boot and warm-up, then the longer stream, plus half the shorter one for sharing the CPUs. */
function guestTimeoutS(streams: Stream[]): number {
  const b = streams.map((st) => st.budgetS).sort((x, y) => y - x);
  return 600 + (b[0] ?? 0) + (b[1] ?? 0) / 2;
}

/** Shell: every stream's vitest in the background; exits non-zero when any of them did. */
function streamsScript(streams: Stream[]): string {
  const q = (x: string) => `'${x.replace(/'/g, `'\\''`)}'`;
  const starts = streams.map((st) => {
    const argv = ['node_modules/.bin/vitest', 'run', ...st.files, '--fileParallelism=false', '--reporter=default', '--reporter=json', `--outputFile.json=${join(RESULTS_DIR, st.json)}`];
    return `${argv.map(q).join(' ')} & pids="$pids $!"`;
  });
  return `pids=; ${starts.join('; ')}; rc=0; for p in $pids; do wait $p || rc=1; done; exit $rc`;
}

interface VitestJson {
  testResults: Array<{ name: string; assertionResults: Array<{ fullName: string; status: string; failureMessages: string[] }> }>;
}

function hostRunner(): void {
  let run: { code: number; output: string; ms: number } | undefined;
  const results = new Map<string, CaseResult[]>();
  let vitestJson: VitestJson | undefined;

  beforeAll(async () => {
    mkdirSync(RESULTS_DIR, { recursive: true });
    for (const f of readdirSync(RESULTS_DIR)) if (/^results-.*-guest_/.test(f) || f.startsWith(VITEST_JSON_PREFIX)) rmSync(join(RESULTS_DIR, f));
    const streams = guestStreams();
    const t0 = Date.now();
    const r = await runInGuest(['bash', '-c', `${WARM_UP}; ${streamsScript(streams)}`], {
      cwd: REPO_ROOT,
      // Two streams hold an API server, four kube-proxies and four bpfproxy processes at once.
      env: { BPFPROXY_VM_RW_DIR: RESULTS_DIR, BPFPROXY_VM_MEM: process.env.BPFPROXY_VM_MEM ?? '3072', NO_COLOR: '1' },
      timeoutSec: guestTimeoutS(streams),
      onOutput: process.env.BPFPROXY_VM_VERBOSE === '1' ? (s) => process.stdout.write(s) : undefined,
    });
    run = { ...r, ms: Date.now() - t0 };
    for (const b of GUEST_BACKENDS) {
      const file = readdirSync(RESULTS_DIR).find((f) => f.startsWith(resultsPrefix(b)) && /-guest_[^/]*\.json$/.test(f));
      results.set(b, file ? (JSON.parse(readFileSync(join(RESULTS_DIR, file), 'utf8')) as CaseResult[]) : []);
    }
    const jsons = streams.map((st) => join(RESULTS_DIR, st.json)).filter((f) => existsSync(f));
    vitestJson = { testResults: jsons.flatMap((f) => (JSON.parse(readFileSync(f, 'utf8')) as VitestJson).testResults) };
    console.log(`guest run (${streams.map((st) => st.files.length + ' files: ' + st.name).join('; ')}): exit ${r.code} after ${(run.ms / 1000).toFixed(1)} s`);
  }, (guestTimeoutS(guestStreams()) + 120) * 1000);

  const tail = () => run?.output.split('\n').slice(-60).join('\n') ?? '(guest did not run)';

  for (const backend of GUEST_BACKENDS) {
    describe(`${backend} in the guest kernel`, () => {
      for (const c of CASES) {
        const reason = BACKENDS[backend]!.unsupported[c.id];
        if (reason) {
          it.skip(`${c.id}: ${c.title} (not on ${backend}: ${reason})`, () => undefined);
          continue;
        }
        it(`${c.id}: ${c.title}`, () => {
          const r = results.get(backend)?.find((x) => x.case === c.id);
          if (!r) throw new Error(`no result from the guest for ${backend}/${c.id}; guest output (tail):\n${tail()}`);
          if (r.status !== 'pass') {
            const failure = vitestJson?.testResults
              .filter((f) => f.name.endsWith(suiteFile(backend)))
              .flatMap((f) => f.assertionResults)
              .find((a) => a.fullName.includes(`${c.id}:`));
            throw new Error(`${c.id} on ${backend} (${r.kernel}): ${r.status}: ${r.reason ?? ''}\n${failure?.failureMessages.join('\n').slice(0, 4000) ?? ''}`);
          }
        });
      }
    });
  }

  /** One test file the guest ran besides the suites: none of its tests failed, some passed. */
  const filePasses = (what: string, f: string) =>
    it(`${what} (${f}) pass in the guest`, () => {
      const file = vitestJson?.testResults.find((r) => r.name.endsWith(f));
      if (!file) throw new Error(`no results for ${f}; guest output (tail):\n${tail()}`);
      const bad = file.assertionResults.filter((a) => a.status === 'failed');
      expect(bad.map((a) => `${a.fullName}: ${a.failureMessages.join('\n').slice(0, 2000)}`)).toEqual([]);
      expect(file.assertionResults.filter((a) => a.status === 'passed').length).toBeGreaterThan(0);
    });
  if (GUEST_BACKENDS.includes('ipvs')) filePasses('IPVS backend kernel tests', IPVS_KERNEL_TESTS);
  if (GUEST_BACKENDS.includes('kube-proxy/ipvs')) filePasses('IPVS differential against kube-proxy', IPVS_DIFFERENTIAL);
  if (GUEST_BACKENDS.includes('ebpf')) for (const f of EBPF_KERNEL_TESTS) filePasses('eBPF program tests', f);

  it('the guest vitest run exits 0', () => {
    expect(run?.code, tail()).toBe(0);
  });
}

const TITLE = 'conformance in the guest kernel (Debian 6.1 under qemu)';
if (inGuest) {
  describe.skip(`${TITLE} (skipped: this is the guest; the suites themselves run here)`, () => {
    it('boots the guest', () => undefined);
  });
} else {
  // Root for qemu's setup and the namespaces; then the guest artefacts (installs qemu once).
  const reason = kernelUnavailableReason() ?? guestUnavailableReason();
  if (reason === undefined) describeKernel(TITLE, hostRunner);
  else if (kernelRequired) {
    describe(TITLE, () => {
      it('guest prerequisites', () => {
        throw new Error(`guest-kernel conformance required (CI/BPFPROXY_REQUIRE_KERNEL) but the guest cannot run: ${reason}`);
      });
    });
  } else describe.skip(`${TITLE} (skipped: ${reason})`, hostRunner);
}

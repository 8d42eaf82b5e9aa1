// The conformance suite on the IPVS backend. This host kernel has no IPVS, so the suite runs
// in Debian's 6.1 kernel under qemu (test/vm/guest.ts), and this one file plays two parts:
//
//   in the guest (BPFPROXY_IN_GUEST=1): the suite itself, defineConformance('ipvs'), plus the
//     backend's own kernel tests (test/backends/ipvs/kernel.test.ts) in the same vitest run;
//   on the host: boots ONE guest running that vitest, then reports each case from the results
//     JSON the guest wrote into .conformance/ (shared read-write with the guest), so the matrix
//     gets an "ipvs (guest 6.1…)" column and this run shows every case's pass/fail.
//
// Set BPFPROXY_VM_VERBOSE=1 to stream the guest's output while it runs.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { describeKernel, kernelRequired, kernelUnavailableReason } from '../kernel-required.js';
import { REPO_ROOT, guestUnavailableReason, inGuest, runInGuest } from '../vm/guest.js';
import { BACKENDS } from './backends.js';
import { CASES } from './cases/index.js';
import { type CaseResult, RESULTS_DIR } from './results.js';
import { defineConformance } from './suite.js';
import { describe } from 'vitest';

const SELF = 'test/conformance/ipvs.test.ts';
const KERNEL_TESTS = 'test/backends/ipvs/kernel.test.ts';
const VITEST_JSON = join(RESULTS_DIR, 'ipvs-guest-vitest.json');
/** Boot + vitest start (15–35 s under TCG) + the suite; see the README section on the guest runner. */
const GUEST_TIMEOUT_S = 1500;

/**
 * Before vitest: load the modules a node has loaded long before its proxy starts (each costs
 * ~0.5 s under TCG and would land in the first sync of a proxy under test), and read the
 * CLI's code once so the proxies' starts find it in the guest's page cache. ip_vs_ovf stays
 * out: the kernel tests hide it to play "scheduler module missing".
 */
const WARM_UP = [
  'modprobe -a ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sh ip_vs_dh ip_vs_sed ip_vs_nq ip_vs_mh',
  'ip_set ip_set_hash_ip ip_set_hash_ipport ip_set_hash_ipportip ip_set_bitmap_port xt_set xt_comment xt_mark',
  'xt_addrtype xt_conntrack xt_MASQUERADE nft_compat nft_chain_nat nf_reject_ipv4 nf_reject_ipv6 ipt_REJECT ip6t_REJECT',
  'dummy veth bridge 2>/dev/null; node bin/bpfproxy.js --help >/dev/null',
].join(' ');

interface VitestJson {
  testResults: Array<{ name: string; assertionResults: Array<{ fullName: string; status: string; failureMessages: string[] }> }>;
}

function hostRunner(): void {
  let run: { code: number; output: string; ms: number } | undefined;
  let results: CaseResult[] = [];
  let vitestJson: VitestJson | undefined;

  beforeAll(async () => {
    mkdirSync(RESULTS_DIR, { recursive: true });
    for (const f of readdirSync(RESULTS_DIR)) if (/^results-ipvs-guest_/.test(f) || f === 'ipvs-guest-vitest.json') rmSync(join(RESULTS_DIR, f));
    const t0 = Date.now();
    const vitest = ['node_modules/.bin/vitest', 'run', SELF, KERNEL_TESTS, '--fileParallelism=false', '--reporter=default', '--reporter=json', `--outputFile.json=${VITEST_JSON}`];
    const r = await runInGuest(
      ['bash', '-c', `${WARM_UP}; exec "$@"`, 'warm-up', ...vitest],
      {
        cwd: REPO_ROOT,
        env: { BPFPROXY_VM_RW_DIR: RESULTS_DIR, NO_COLOR: '1' },
        timeoutSec: GUEST_TIMEOUT_S,
        onOutput: process.env.BPFPROXY_VM_VERBOSE === '1' ? (s) => process.stdout.write(s) : undefined,
      },
    );
    run = { ...r, ms: Date.now() - t0 };
    const file = readdirSync(RESULTS_DIR).find((f) => /^results-ipvs-guest_.*\.json$/.test(f));
    if (file) results = JSON.parse(readFileSync(join(RESULTS_DIR, file), 'utf8')) as CaseResult[];
    if (existsSync(VITEST_JSON)) vitestJson = JSON.parse(readFileSync(VITEST_JSON, 'utf8')) as VitestJson;
    console.log(`ipvs guest run: exit ${r.code} after ${(run.ms / 1000).toFixed(1)} s (boot + vitest + suite), ${results.length} case results`);
  }, (GUEST_TIMEOUT_S + 120) * 1000);

  const tail = () => run?.output.split('\n').slice(-60).join('\n') ?? '(guest did not run)';

  for (const c of CASES) {
    const reason = BACKENDS.ipvs!.unsupported[c.id];
    if (reason) {
      it.skip(`${c.id}: ${c.title} (not on ipvs: ${reason})`, () => undefined);
      continue;
    }
    it(`${c.id}: ${c.title}`, () => {
      const r = results.find((x) => x.case === c.id);
      if (!r) throw new Error(`no result from the guest for ${c.id}; guest output (tail):\n${tail()}`);
      if (r.status !== 'pass') {
        const failure = vitestJson?.testResults.flatMap((f) => f.assertionResults).find((a) => a.fullName.includes(`${c.id}:`));
        throw new Error(`${c.id} on ipvs (${r.kernel}): ${r.status}: ${r.reason ?? ''}\n${failure?.failureMessages.join('\n').slice(0, 4000) ?? ''}`);
      }
    });
  }

  it('backend kernel tests (test/backends/ipvs/kernel.test.ts) pass in the guest', () => {
    const file = vitestJson?.testResults.find((f) => f.name.endsWith(KERNEL_TESTS));
    if (!file) throw new Error(`no results for ${KERNEL_TESTS}; guest output (tail):\n${tail()}`);
    const bad = file.assertionResults.filter((a) => a.status === 'failed');
    expect(bad.map((a) => `${a.fullName}: ${a.failureMessages.join('\n').slice(0, 2000)}`)).toEqual([]);
    expect(file.assertionResults.filter((a) => a.status === 'passed').length).toBeGreaterThan(0);
  });

  it('the guest vitest run exits 0', () => {
    expect(run?.code, tail()).toBe(0);
  });
}

if (inGuest) {
  defineConformance('ipvs');
} else {
  // Root for qemu's setup and the namespaces; then the guest artefacts (installs qemu once).
  const reason = kernelUnavailableReason() ?? guestUnavailableReason();
  if (reason === undefined) describeKernel('conformance: ipvs (in the guest kernel)', hostRunner);
  else if (kernelRequired) {
    describe('conformance: ipvs (in the guest kernel)', () => {
      it('guest prerequisites', () => {
        throw new Error(`IPVS conformance required (CI/BPFPROXY_REQUIRE_KERNEL) but the guest cannot run: ${reason}`);
      });
    });
  } else describe.skip(`conformance: ipvs (in the guest kernel) (skipped: ${reason})`, hostRunner);
}

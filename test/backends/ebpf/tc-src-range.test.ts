// tc_lb through BPF_PROG_TEST_RUN: loadBalancerSourceRanges (SVC_F_SRC_RANGE + lb_src_range)
// and localhost NodePorts (SVC_F_LOCALHOST), with hand-built frames and the real maps.
import { describe, expect, it } from 'vitest';
import * as abi from '../../../src/backends/ebpf/abi.js';
import { libbpf } from '../../../src/backends/ebpf/libbpf.js';
import type { Dataplane } from '../../../src/backends/ebpf/loader.js';
import { readDatapathStats } from '../../../src/backends/ebpf/stats.js';
import { describeKernel } from '../../kernel-required.js';
import { seedService, useTestDataplane } from './fixtures.js';
import { TCP, TCP_ACK, TCP_SYN, buildPacket, type PacketSpec } from './packets.js';

const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;

const LB = '198.19.250.24';
const NODE_IP = '198.19.200.1';
const INSIDE = '198.19.200.100';
const OUTSIDE = '198.19.201.5';
const B1 = '198.18.1.11';
const LB_ID = 31;
const NP_ID = 32;

describeKernel('tc_lb: loadBalancerSourceRanges and localhost NodePorts', () => {
  let dp: Dataplane;
  useTestDataplane((d) => (dp = d));

  const backends = [{ id: 1, ip: B1, port: 9376 }];
  /** One Service: its LB IP restricted to INSIDE/32 and 198.19.99.0/24, its NodePort open. */
  function seed() {
    dp.maps.config.update({ id: 0 }, { hairpinAddr: '0.0.0.0', snatAddr: '0.0.0.0', snatPortMin: 0, snatPortMax: 0, nodeAddr: '0.0.0.0' });
    seedService(dp.maps, { vip: LB, port: 80, proto: TCP, svcId: LB_ID, backends, flags: abi.SVC_F_EXTERNAL | abi.SVC_F_SRC_RANGE });
    seedService(dp.maps, { vip: NODE_IP, port: 30095, proto: TCP, svcId: NP_ID, backends, flags: abi.SVC_F_EXTERNAL | abi.SVC_F_NODEPORT });
    for (const [addr, bits] of [[INSIDE, 32], ['198.19.99.0', 24]] as const)
      dp.maps.srcRange.update({ prefixlen: abi.LB_SRC_SVC_BITS + bits, svcId: LB_ID, addr }, { allowed: 1 });
  }
  const syn = (saddr: string, daddr = LB, dport = 80, sport = 40000): PacketSpec => ({ saddr, daddr, proto: TCP, sport, dport, flags: TCP_SYN, seq: 5000 });
  async function run(spec: PacketSpec) {
    const input = buildPacket(spec);
    const r = await libbpf.testRun(dp.tc.fd, input);
    return { verdict: r.retval, out: r.dataOut.toString('hex'), unchanged: r.dataOut.equals(input) };
  }
  const drops = () => readDatapathStats(dp.maps.statsFd).drops.source_range!;

  it('a SYN from inside the ranges is DNATed; from outside it is dropped (counted, nothing tracked, no RST)', async () => {
    seed();
    for (const src of [INSIDE, '198.19.99.200']) {
      const r = await run(syn(src));
      expect(r.verdict).toBe(TC_ACT_OK);
      expect(r.out).toBe(buildPacket({ ...syn(src), daddr: B1, dport: 9376 }).toString('hex'));
    }
    const before = drops();
    for (const spec of [syn(OUTSIDE), { ...syn(OUTSIDE), flags: TCP_ACK, seq: 5001, ack: 1 }]) {
      const r = await run(spec);
      expect(r).toMatchObject({ verdict: TC_ACT_SHOT, unchanged: true });
    }
    expect(drops() - before).toBe(2);
    expect(dp.maps.conntrack.lookup({ saddr: OUTSIDE, daddr: LB, sport: 40000, dport: 80, proto: TCP })).toBeUndefined();
  });

  it("the same Service's NodePort is not restricted", async () => {
    seed();
    const r = await run(syn(OUTSIDE, NODE_IP, 30095));
    expect(r.verdict).toBe(TC_ACT_OK);
    expect(r.out).toBe(buildPacket({ ...syn(OUTSIDE, NODE_IP, 30095), daddr: B1, dport: 9376 }).toString('hex'));
  });

  it('ranges are per frontend: an entry of another svc_id lets nobody in', async () => {
    seed();
    dp.maps.srcRange.update({ prefixlen: abi.LB_SRC_SVC_BITS + 24, svcId: NP_ID, addr: '198.19.201.0' }, { allowed: 1 });
    expect((await run(syn(OUTSIDE))).verdict).toBe(TC_ACT_SHOT);
  });

  it('a ranges change refuses new flows but keeps a tracked one going', async () => {
    seed();
    expect((await run(syn(INSIDE))).verdict).toBe(TC_ACT_OK);
    dp.maps.srcRange.delete({ prefixlen: abi.LB_SRC_SVC_BITS + 32, svcId: LB_ID, addr: INSIDE });
    const ack = await run({ ...syn(INSIDE), flags: TCP_ACK, seq: 5001, ack: 1 });
    expect(ack.verdict).toBe(TC_ACT_OK);
    expect(ack.out).toBe(buildPacket({ ...syn(INSIDE), flags: TCP_ACK, seq: 5001, ack: 1, daddr: B1, dport: 9376 }).toString('hex'));
    expect((await run(syn(INSIDE, LB, 80, 40001))).verdict).toBe(TC_ACT_SHOT);
  });

  it('127.0.0.1:nodePort (socket LB only) arriving on an interface passes untouched, never DNATed', async () => {
    seedService(dp.maps, { vip: '127.0.0.1', port: 30096, proto: TCP, svcId: 33, backends, flags: abi.SVC_F_NODEPORT | abi.SVC_F_LOCALHOST });
    const r = await run(syn(OUTSIDE, '127.0.0.1', 30096));
    expect(r).toMatchObject({ verdict: TC_ACT_OK, unchanged: true });
    expect(dp.maps.conntrack.lookup({ saddr: OUTSIDE, daddr: '127.0.0.1', sport: 40000, dport: 30096, proto: TCP })).toBeUndefined();
  });
});

// The whole suite on the reference in IPVS mode: the real kube-proxy --proxy-mode=ipvs, fed
// by the real API server, in a kernel with IPVS (the guest, where guest-kernel.test.ts runs
// it as the "kube-proxy/ipvs" column; see ipvs-kernel.ts).
import { defineIpvsConformance } from './ipvs-kernel.js';

defineIpvsConformance('kube-proxy/ipvs', 'kubernetes');

// The shared suite on --backend=ipvs, in a kernel with IPVS (the guest; see ipvs-kernel.ts).
import { defineIpvsConformance } from './ipvs-kernel.js';

defineIpvsConformance('ipvs');

// The whole suite on the reference: the real kube-proxy in nftables mode, fed by the real
// API server. A case that fails here is wrong, or documents a real divergence (its reason
// is in backends.ts and in the matrix).
import { defineConformance } from './suite.js';

defineConformance('kube-proxy/nftables', 'kubernetes');

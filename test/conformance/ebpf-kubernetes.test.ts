// The whole suite on ebpf with the real API server as the source (test/cluster/).
import { defineConformance } from './suite.js';

defineConformance('ebpf', 'kubernetes');

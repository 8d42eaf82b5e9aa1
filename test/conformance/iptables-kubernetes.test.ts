// The whole suite on iptables with the real API server as the source (test/cluster/).
import { defineConformance } from './suite.js';

defineConformance('iptables', 'kubernetes');

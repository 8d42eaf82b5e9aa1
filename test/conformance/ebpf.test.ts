import { defineConformance } from './suite.js';

defineConformance('ebpf');

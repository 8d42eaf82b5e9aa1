import { defineConformance } from './suite.js';

defineConformance('iptables');

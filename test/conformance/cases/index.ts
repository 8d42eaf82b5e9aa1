import type { ConformanceCase } from '../types.js';
import { badEditKeepsService } from './bad-input.js';
import { endpointChurn, noEndpoints, onlyReady, seed, udpClusterIP } from './clusterip-basic.js';

/** Every case, in the order the suite runs them. */
export const CASES: ConformanceCase[] = [seed, onlyReady, endpointChurn, noEndpoints, udpClusterIP, badEditKeepsService];

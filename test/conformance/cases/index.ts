import type { ConformanceCase } from '../types.js';
import { endpointChurn, noEndpoints, onlyReady, seed, udpClusterIP } from './clusterip-basic.js';

/** Every case, in the order the suite runs them. */
export const CASES: ConformanceCase[] = [seed, onlyReady, endpointChurn, noEndpoints, udpClusterIP];

export * from './model/types.js';
export { buildServiceTable } from './model/build-table.js';
export { selectEndpoints } from './model/select-endpoints.js';
export type { Backend, BackendName, InspectRow } from './proxier/backend.js';

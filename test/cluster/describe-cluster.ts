// The gate for tests that need the real API server: locally they skip with the reason,
// in CI they fail (like the kernel tests), so a green CI means they ran.
import { describe, it } from 'vitest';
import { kernelRequired } from '../kernel-required.js';
import { type Peers, findPeers } from './peers.js';

/** describe() for tests against the real API server: skip locally with a reason, fail in CI. */
export function describeCluster(name: string, fn: (peers: Peers) => void): void {
  const { peers, reason } = findPeers();
  if (peers) describe(name, () => fn(peers));
  else if (kernelRequired) {
    describe(name, () => {
      it('cluster prerequisites', () => {
        throw new Error(`cluster test required but cannot run: ${reason}`);
      });
    });
  } else describe.skip(`${name} (skipped: ${reason})`, () => fn(undefined as never));
}

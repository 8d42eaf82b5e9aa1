// Golden-file check: UPDATE_GOLDEN=1 rewrites the file (then read it and confirm it against kube-proxy's layout).
import { readFileSync, writeFileSync } from 'node:fs';
import { expect } from 'vitest';

export function golden(name: string, text: string): void {
  const path = new URL(`./golden/${name}`, import.meta.url);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, text);
  expect(text).toBe(readFileSync(path, 'utf8'));
}

// Small validators that turn a bad field into a located InputProblem message.
import { isIP } from 'node:net';
import type { IPFamily, Protocol } from './types.js';

export class FieldError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export function ipFamily(ip: string): IPFamily | undefined {
  const v = isIP(ip);
  return v === 4 ? 4 : v === 6 ? 6 : undefined;
}

export function requireIP(value: unknown, field: string): string {
  if (typeof value !== 'string' || ipFamily(value) === undefined) {
    throw new FieldError(field, `invalid IP address ${JSON.stringify(value)}`);
  }
  return value;
}

export function requirePort(value: unknown, field: string, opts: { allowZero?: boolean } = {}): number {
  const min = opts.allowZero ? 0 : 1;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 65535) {
    throw new FieldError(field, `invalid port ${JSON.stringify(value)} (want an integer ${min}..65535)`);
  }
  return value;
}

export function requireProtocol(value: unknown, field: string): Protocol {
  const p = value ?? 'TCP';
  if (p === 'TCP' || p === 'UDP' || p === 'SCTP') return p;
  throw new FieldError(field, `unknown protocol ${JSON.stringify(value)} (want TCP, UDP or SCTP)`);
}

export function requireName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw new FieldError(field, 'missing');
  return value;
}

/** Validates an IPv4/IPv6 CIDR such as 198.18.0.0/16. */
export function requireCIDR(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new FieldError(field, `invalid CIDR ${JSON.stringify(value)}`);
  const [ip, bits, ...rest] = value.split('/');
  const fam = ip === undefined ? undefined : ipFamily(ip);
  const n = Number(bits);
  if (rest.length > 0 || fam === undefined || !Number.isInteger(n) || n < 0 || n > (fam === 4 ? 32 : 128)) {
    throw new FieldError(field, `invalid CIDR ${JSON.stringify(value)}`);
  }
  return value;
}

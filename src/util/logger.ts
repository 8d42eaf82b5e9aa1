import pino, { type Logger } from 'pino';

/** JSON logs on stdout (one object a line: tests and log shippers read them). */
export function createLogger(level = process.env.BPFPROXY_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: 1, sync: true }));
}

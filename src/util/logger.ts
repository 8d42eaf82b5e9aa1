import pino, { type Logger } from 'pino';

/**
 * JSON logs, one object a line (tests and log shippers read them): on stdout for `run`,
 * on stderr for commands whose stdout is their output (render, inspect).
 */
export function createLogger(level = process.env.BPFPROXY_LOG_LEVEL ?? 'info', fd: 1 | 2 = 1): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: fd, sync: true }));
}

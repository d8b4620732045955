import { pino, type Logger } from 'pino';

export type { Logger };

/** One JSON logger per process; roles take children named after them. */
export function createLogger(level = 'info', name = 'tsim'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}

/** A logger that writes nothing (tests). */
export const silentLogger: Logger = pino({ level: 'silent' });

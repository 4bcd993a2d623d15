// Structured JSON lines for Cloud Logging: `severity` and `message` are read
// by Logging itself, every other field (runId, source, target, digest, status,
// bytes, durationMs) becomes a jsonPayload field to filter one run by.

import type { Logger } from '../util/logger.ts';

export function cloudLogger(
  write: (line: string) => void = (line) => process.stdout.write(line),
  debug = false,
): Logger {
  const emit = (severity: string, message: string, fields?: Record<string, unknown>) => {
    write(`${JSON.stringify({ severity, message, ...fields, time: new Date().toISOString() })}\n`);
  };
  return {
    debug: (message, fields) => {
      if (debug) emit('DEBUG', message, fields);
    },
    info: (message, fields) => emit('INFO', message, fields),
    warn: (message, fields) => emit('WARNING', message, fields),
  };
}

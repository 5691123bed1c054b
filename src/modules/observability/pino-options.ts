import pino, { DestinationStream } from 'pino';
import type { Options } from 'pino-http';
import type { AppConfig } from '../../config/app-config';

/**
 * pino settings: JSON lines on stdout; pretty (pino-pretty, a dev dependency) when LOG_FORMAT=pretty.
 *
 * stdout is written asynchronously (sonic-boom, sync: false): a line is handed to the kernel at
 * once when no write is in flight, and lines logged meanwhile go out together in the next write,
 * so a busy service makes far fewer write calls than one per request, and never waits on a slow
 * log pipe in the request path. pino flushes what is buffered when the process exits.
 */
export function pinoOptions(config: Pick<AppConfig, 'logLevel' | 'logFormat'>): Options | [Options, DestinationStream] {
  const options: Options = {
    level: config.logLevel,
    autoLogging: false,
    // Belt and braces: nothing we log carries these, and if it ever did they are hidden.
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'authorization', 'key', 'secret', 'body'],
      censor: '[redacted]',
    },
  };
  if (config.logFormat === 'pretty')
    return { ...options, transport: { target: 'pino-pretty', options: { singleLine: true } } };
  return [options, pino.destination({ dest: 1, sync: false })];
}

import pino, { DestinationStream } from 'pino';
import type { Options } from 'pino-http';
import type { AppConfig } from '../../config/app-config';

/**
 * pino settings: JSON lines on stdout; pretty (pino-pretty, a dev dependency) when LOG_FORMAT=pretty
 * (main.ts sets it for a terminal: see prettyLogsByDefault).
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
    // A second line of defence: nothing we log carries these, and if it ever did they are hidden.
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'authorization', 'key', 'secret', 'body'],
      censor: '[redacted]',
    },
  };
  if (config.logFormat === 'pretty' && hasPinoPretty())
    return {
      ...options,
      transport: {
        target: 'pino-pretty',
        options: { singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
      },
    };
  return [options, pino.destination({ dest: 1, sync: false })];
}

/** pino-pretty is a dev dependency: an image built with production dependencies only has none. */
function hasPinoPretty(): boolean {
  try {
    require.resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether logs should be pretty when LOG_FORMAT is not set: a person at a terminal reads them
 * (stdout is a TTY, or NODE_ENV=development is said explicitly), unless NODE_ENV=production. A
 * pipe or a file (a collector, docker logs, the tests' spawned service) gets JSON lines.
 */
export function prettyLogsByDefault(env: { LOG_FORMAT?: string; NODE_ENV?: string }, stdoutIsTty: boolean): boolean {
  if (env.LOG_FORMAT || env.NODE_ENV === 'production') return false;
  return (stdoutIsTty || env.NODE_ENV === 'development') && hasPinoPretty();
}

import type { Options } from 'pino-http';
import type { AppConfig } from '../../config/app-config';

/** pino settings: JSON lines on stdout; pretty (pino-pretty, a dev dependency) when LOG_FORMAT=pretty. */
export function pinoOptions(config: Pick<AppConfig, 'logLevel' | 'logFormat'>): Options {
  return {
    level: config.logLevel,
    autoLogging: false,
    // Belt and braces: nothing we log carries these, and if it ever did they are hidden.
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'authorization', 'key', 'secret', 'body'], censor: '[redacted]' },
    ...(config.logFormat === 'pretty' ? { transport: { target: 'pino-pretty', options: { singleLine: true } } } : {}),
  };
}

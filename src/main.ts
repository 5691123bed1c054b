import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger as PinoNestLogger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { APP_CONFIG, AppConfig, ConfigError, loadConfig } from './config/app-config';
import { configureApp, createFastifyAdapter, NEST_APP_OPTIONS } from './http-app';
import { prettyLogsByDefault } from './modules/observability/pino-options';

async function bootstrap(): Promise<void> {
  // `npm start` in a terminal: human-readable logs. Production and pipes keep JSON lines.
  if (prettyLogsByDefault(process.env, process.stdout.isTTY === true)) process.env.LOG_FORMAT = 'pretty';
  let trustProxy: AppConfig['trustProxy'];
  try {
    trustProxy = loadConfig().trustProxy;
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`Configuration error: ${e.message}`);
      process.exit(1);
    }
    throw e;
  }
  const app = await NestFactory.create<NestFastifyApplication>(AppModule, createFastifyAdapter({ trustProxy }), {
    ...NEST_APP_OPTIONS,
    bufferLogs: true,
  });
  app.useLogger(app.get(PinoNestLogger));
  configureApp(app);
  const config = app.get<AppConfig>(APP_CONFIG);
  // Graceful shutdown is bounded: in-flight requests that outlast SHUTDOWN_TIMEOUT_MS are abandoned.
  const bound = (signal: string) => () => {
    new Logger('Main').log(
      `${signal}: draining in-flight requests (at most ${config.shutdownTimeoutMs} ms), then closing`,
    );
    // Keep-alive connections whose last request finishes during the drain would otherwise hold
    // the server open until their keep-alive timeout: close each as soon as it is idle.
    const server = app.getHttpServer() as { closeIdleConnections?: () => void };
    setInterval(() => server.closeIdleConnections?.(), 100).unref();
    setTimeout(() => {
      new Logger('Main').error(`Shutdown took longer than SHUTDOWN_TIMEOUT_MS=${config.shutdownTimeoutMs}; exiting`);
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
  };
  process.once('SIGTERM', bound('SIGTERM'));
  process.once('SIGINT', bound('SIGINT'));
  await app.listen(config.port, config.host);
  new Logger('Main').log(`Listening on http://${config.host}:${config.port} (docs at /docs)`);
}

void bootstrap();

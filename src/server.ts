// The running service: settings → services → app → listen; starts the mail worker; shuts down gracefully.
import type { Config } from './config.ts';
import { buildApp } from './app.ts';
import { systemClock } from './infra/clock.ts';
import { createLogger } from './infra/logger.ts';
import { createServices, ensureFirstAdministrator } from './services.ts';

export async function serve(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  const services = await createServices(config, systemClock, logger, { backgroundCheckpoint: true });
  try {
    await ensureFirstAdministrator(services);
  } catch (error) {
    await services.close();
    throw error;
  }
  const app = await buildApp(services);
  await app.listen({ port: config.port, host: config.host });
  services.worker.start();
  logger.info(
    { url: config.baseUrl.href, mail: config.smtpUrl ? 'smtp' : 'development mailbox', mode: config.production ? 'production' : 'development' },
    'Latchkey is ready',
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing requests and mail in hand');
    // Requests first, so nothing new is queued; then the worker finishes what it has claimed.
    await app.close();
    await services.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

// The running service: settings → services → app → listen; starts the mail worker; shuts down gracefully.
import type { FastifyInstance } from 'fastify';
import { ConfigError, describeDatabase, type Config } from './config.ts';
import { buildApp } from './app.ts';
import { systemClock } from './infra/clock.ts';
import { createLogger, type Logger } from './infra/logger.ts';
import { createServices, ensureFirstAdministrator, type Services } from './services.ts';
import { sharesOrganization } from './modules/mail/return-path.ts';

export async function serve(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  const services = await createServices(config, systemClock, logger, { backgroundCheckpoint: true });
  try {
    await ensureFirstAdministrator(services);
  } catch (error) {
    await services.close();
    throw error;
  }
  if (config.bounces.domain && !sharesOrganization(config.mailFrom, config.bounces.domain)) {
    logger.warn({ bounceDomain: config.bounces.domain, from: config.mailFrom }, 'LATCHKEY_BOUNCE_DOMAIN is not under the From address\'s domain: spam filters score such mail higher');
  }
  const app = await buildApp(services);
  // The bounce listener before the web server: an address it cannot have stops the start, naming its setting.
  if (config.mailWorker && services.bounceListener) {
    try {
      await services.bounceListener.start();
    } catch (error) {
      await app.close();
      await services.close();
      throw new ConfigError(`LATCHKEY_BOUNCE_LISTEN: cannot listen on ${config.bounces.listen!.host}:${config.bounces.listen!.port}: ${(error as Error).message}`);
    }
  }
  await app.listen({ port: config.port, host: config.host });
  // A web-only instance (LATCHKEY_MAIL_WORKER=off) queues mail; instances with the worker on send it.
  if (config.mailWorker) services.worker.start();
  // Bounces come in where mail goes out: a listener (started above) or a polled mailbox (LATCHKEY_BOUNCE_IMAP_URL).
  if (config.mailWorker) services.bounceMailbox?.start();
  // Webhook deliveries go out from the same instances, and stop with them (services.close()).
  if (config.mailWorker) services.webhookWorker.start();
  // Every instance checks the alert rules (LATCHKEY_ALERT_INTERVAL); one at a time raises what they find.
  services.security.start();
  // Once across instances: each tries at its interval, one cleans (LATCHKEY_RETENTION_INTERVAL=0: never this one).
  services.retention.start();
  logger.info(
    {
      url: config.baseUrl.href,
      database: describeDatabase(config.database),
      mail: !config.mailWorker ? 'worker off: mail is sent by other instances' : config.smtpUrl ? 'smtp' : 'development mailbox',
      mode: config.production ? 'production' : 'development',
      bounces: !config.bounces.domain ? 'off' : [config.bounces.listen && 'listener', config.bounces.imap && 'mailbox'].filter(Boolean).join(' and ') || 'return path only',
    },
    'Latchkey is ready',
  );
  stopOnSignals(app, services, config, logger);
}

/**
 * SIGTERM or SIGINT: /readyz fails at once, no new connection is accepted, requests in flight finish, then
 * the mail worker finishes the mail in hand, the webhook worker the deliveries in hand, and the database
 * closes; exit 0. A second signal, or the grace period running out, exits 1 at once.
 */
function stopOnSignals(app: FastifyInstance, services: Services, config: Config, logger: Logger): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.error({ signal }, 'second signal: exiting now, without waiting for requests or mail in hand');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, graceSeconds: config.shutdownGraceSeconds }, 'shutting down: finishing requests in flight, then the mail in hand');
    const deadline = setTimeout(() => {
      logger.error({ graceSeconds: config.shutdownGraceSeconds }, 'shutdown took longer than LATCHKEY_SHUTDOWN_GRACE: exiting now');
      process.exit(1);
    }, config.shutdownGraceSeconds * 1000);
    deadline.unref();
    // Requests first, so nothing new is queued; then the worker finishes what it has claimed.
    app
      .close()
      .then(() => services.close())
      .then(
        () => {
          logger.info('stopped');
          process.exit(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

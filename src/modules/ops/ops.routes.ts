// /healthz, /readyz and /metrics, and the hooks that count every answered request and mark a shutdown.
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.ts';
import { Readiness } from './health.ts';
import { MetricsAccess } from './metrics-access.ts';
import { OpsMetrics, UNMATCHED_ROUTE } from './metrics.ts';

/**
 * Registered on the root app, not as an encapsulated plugin: its hooks must see every route's answers.
 * A caller refused /metrics gets the site's ordinary 404 page, so the answer does not even say it exists.
 */
export function registerOps(app: FastifyInstance, services: Services): void {
  const { config } = services;
  const readiness = new Readiness(services.db, config, services.worker, services.clock, services.logger, services.bounceListener);
  const metrics = new OpsMetrics(services.worker, services.outbox, services.logger, services.bounces);
  const access = new MetricsAccess(config.metrics.allow, config.metrics.token);

  app.addHook('onResponse', async (request, reply) => {
    metrics.observe({
      method: request.method,
      route: request.routeOptions.url ?? UNMATCHED_ROUTE,
      status: reply.statusCode,
      seconds: reply.elapsedTime / 1000,
    });
  });
  // app.close() (what SIGTERM does) runs this first: probes fail at once while requests in flight finish.
  app.addHook('preClose', async () => readiness.beginShutdown());
  // A keep-alive connection whose request finishes during the shutdown is closed after it, not left to idle.
  app.addHook('onSend', async (_request, reply) => {
    if (readiness.stopping) reply.header('connection', 'close');
  });
  app.addHook('onClose', async () => metrics.close());

  app.get('/healthz', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return { status: 'ok' };
  });

  app.get('/readyz', async (_request, reply) => {
    const report = await readiness.check();
    return reply
      .code(report.status === 'ready' ? 200 : 503)
      .header('cache-control', 'no-store')
      .send(report);
  });

  app.get('/metrics', async (request, reply) => {
    const authorization = request.headers.authorization;
    if (!access.permits(request.ip, authorization)) {
      if (MetricsAccess.triedToken(authorization)) request.log.warn({ ip: request.ip }, 'metrics: refused a wrong bearer token');
      return reply.callNotFound();
    }
    return reply.header('cache-control', 'no-store').type(metrics.contentType).send(await metrics.render());
  });
}

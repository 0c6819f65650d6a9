// The Security page for administrators, "Acknowledge" on its alerts, and the banner of open alerts that every
// console page carries until they are acknowledged.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { adminOf } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { actorOf, sendHtml } from '../../infra/web.ts';
import { formBody, IdParams, NoticeQuery } from '../../infra/page-schemas.ts';
import { noticeFor } from '../../views/components.ts';
import { ALERTS_SLOT, consolePage } from '../admin/console.views.ts';
import { alertBanner, securityPage } from './security.views.ts';
import { t } from '../../infra/i18n.ts';

const NOTICES = { acknowledged: () => t('security.notice.acknowledged') };

export function securityPages(services: Services): FastifyPluginAsync {
  const { security } = services;
  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();

    app.get('/admin/security', { schema: { querystring: NoticeQuery } }, async (request, reply) => {
      const auth = adminOf(request);
      const overview = await security.overview();
      const csrfToken = reply.generateCsrf();
      return sendHtml(
        reply,
        consolePage({
          title: t('security.title'),
          viewer: auth.user,
          csrfToken,
          section: '/admin/security',
          notice: noticeFor(NOTICES, request.query.notice)?.() ?? null,
          body: securityPage({ overview, csrfToken }),
        }),
      );
    });

    app.post('/admin/security/alerts/:id/acknowledge', { schema: { params: IdParams, body: formBody({}) } }, async (request, reply) => {
      const auth = adminOf(request);
      await security.acknowledge(request.params.id, { ...actorOf(request, auth.user.id), userId: auth.user.id });
      return reply.redirect('/admin/security?notice=acknowledged#alerts', 303);
    });
  };
}

/**
 * An onSend hook: fills the console's alert slot with the banner of open alerts for administrators (and
 * empties it on the Security page itself, which lists them).
 */
export function alertBannerHook(services: Services) {
  const slot = ALERTS_SLOT.value;
  return async (request: FastifyRequest, _reply: FastifyReply, payload: unknown): Promise<unknown> => {
    if (typeof payload !== 'string' || !payload.includes(slot)) return payload;
    const auth = await request.auth();
    if (auth?.user.role !== 'admin' || request.url.startsWith('/admin/security')) return payload.replace(slot, '');
    const banner = alertBanner(await services.security.openAlerts(100)).value;
    return payload.replace(slot, () => banner);
  };
}

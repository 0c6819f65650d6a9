// The API Keys pages: list, create (the key shown once, by Post/Redirect/Get), a key's page, revoke.
// A new key is shown once (infra/handoff.ts): reloading its page neither creates another key nor shows it again.
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { adminOf, type Auth } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { SecretBox } from '../../infra/crypto.ts';
import { SecretHandoff } from '../../infra/handoff.ts';
import { NotFoundError, UserError } from '../../infra/errors.ts';
import { formBody, IdParams, NoticeQuery, text, texts } from '../../infra/page-schemas.ts';
import { loadSecret } from '../../infra/secret.ts';
import { actorOf, sendHtml } from '../../infra/web.ts';
import { noticeFor } from '../../views/components.ts';
import type { SafeHtml } from '../../views/html.ts';
import type { ApiKey } from '../apikeys/apikeys.service.ts';
import { consolePage } from './console.views.ts';
import { apiKeyForm, apiKeyPage, apiKeysList, keyShownOnce, NOTICES } from './api-keys.views.ts';
import { t } from '../../infra/i18n.ts';

const NewKeyBody = formBody({ name: text(300), scopes: texts(40, 20), expires: text(20) });

export function apiKeyPages(services: Services): FastifyPluginAsync {
  const { apiKeys, cookies, clock, config } = services;
  const handoff = new SecretHandoff('api-key', cookies, new SecretBox(loadSecret(config.secret, config.dataDir), 'api-key-handoff'), clock);

  const render = (reply: FastifyReply, auth: Auth, title: string, body: SafeHtml, status = 200, notice: string | null = null) =>
    sendHtml(reply, consolePage({ title, viewer: auth.user, csrfToken: reply.generateCsrf(), section: '/admin/api-keys', body, notice }), status);

  async function find(id: string): Promise<ApiKey> {
    const key = await apiKeys.get(id);
    if (!key) throw new NotFoundError(t('apiKeys.noSuchKey'));
    return key;
  }

  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();

    app.get('/admin/api-keys', { schema: { querystring: NoticeQuery } }, async (request, reply) => {
      const keys = (await apiKeys.list()).map((key) => ({ ...key, state: apiKeys.stateOf(key) }));
      return render(reply, adminOf(request), t('apiKeys.title'), apiKeysList(keys), 200, noticeFor(NOTICES, request.query.notice)?.() ?? null);
    });

    app.get('/admin/api-keys/new', async (request, reply) =>
      render(reply, adminOf(request), t('apiKeys.new'), apiKeyForm({ csrfToken: reply.generateCsrf(), values: { name: '', scopes: ['users:read'], expires: '' } })),
    );

    app.post('/admin/api-keys', { schema: { body: NewKeyBody } }, async (request, reply) => {
      const auth = adminOf(request);
      const values = { name: request.body.name ?? '', scopes: request.body.scopes ?? [], expires: request.body.expires ?? '' };
      try {
        let expiresAt: number | null = null;
        if (values.expires !== '') {
          expiresAt = /^\d{4}-\d{2}-\d{2}$/.test(values.expires) ? Date.parse(`${values.expires}T23:59:59.999Z`) : Number.NaN;
          if (Number.isNaN(expiresAt)) throw new UserError(t('apiKeys.error.expiry'), 400, { expires: t('apiKeys.error.expiryHint') });
        }
        const { key, secret } = await apiKeys.create({ name: values.name, scopes: values.scopes, expiresAt }, actorOf(request, auth.user.id));
        handoff.give(reply, key.id, auth.user.id, secret, null);
        return reply.redirect(`/admin/api-keys/${key.id}/created`, 303);
      } catch (error) {
        if (!(error instanceof UserError) || error.status !== 400) throw error;
        return render(reply, auth, t('apiKeys.new'), apiKeyForm({ csrfToken: reply.generateCsrf(), values, errors: error.fields, error: error.message }), 400);
      }
    });

    // Shows a new key once; opened again (a reload, Back), it goes on to the key's page.
    app.get('/admin/api-keys/:id/created', { schema: { params: IdParams } }, async (request, reply) => {
      const auth = adminOf(request);
      const key = await find(request.params.id);
      const shown = handoff.take(request, reply, key.id, auth.user.id);
      if (!shown) return reply.redirect(`/admin/api-keys/${key.id}?notice=key-shown`, 303);
      return render(reply, auth, t('apiKeys.created'), keyShownOnce(key, shown.secret));
    });

    app.get('/admin/api-keys/:id', { schema: { params: IdParams, querystring: NoticeQuery } }, async (request, reply) => {
      const key = await find(request.params.id);
      return render(reply, adminOf(request), key.name, apiKeyPage({ ...key, state: apiKeys.stateOf(key) }, reply.generateCsrf()), 200, noticeFor(NOTICES, request.query.notice)?.() ?? null);
    });

    app.post('/admin/api-keys/:id/revoke', { schema: { params: IdParams, body: formBody({}) } }, async (request, reply) => {
      const key = await find(request.params.id);
      await apiKeys.revoke(key.id, actorOf(request, adminOf(request).user.id));
      return reply.redirect('/admin/api-keys?notice=revoked', 303);
    });
  };
}

// The Webhooks pages: list, add, edit, delete and rotate the secret of the subscriptions, and see each one's deliveries.
// A new signing secret is shown by Post/Redirect/Get, as the Applications pages show a client secret: the write
// answers with a redirect, and the secret travels sealed in a short-lived cookie to the page that shows it once.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
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
import { html, type SafeHtml } from '../../views/html.ts';
import type { Subscription, SubscriptionInput } from '../webhooks/webhooks.service.ts';
import { consolePage } from './console.views.ts';
import { deleteConfirm, deliveriesTable, NOTICES, rotateConfirm, secretShownOnce, webhookForm, webhooksList, type WebhookFormView } from './webhooks.views.ts';

const WebhookForm = formBody({ url: text(4000), description: text(1000), events: texts(100, 50), enabled: text(10) });
const ActionForm = formBody({});
type WebhookFields = { url?: string; description?: string; events?: string[]; enabled?: string };

/** The form as the page shows it again, and as the service reads it. */
function readForm(body: WebhookFields): { values: WebhookFormView['values']; input: SubscriptionInput } {
  const values = { url: body.url ?? '', description: body.description ?? '', events: body.events ?? [], enabled: body.enabled === 'yes' };
  return { values, input: { ...values } };
}

function valuesOf(subscription: Subscription | null): WebhookFormView['values'] {
  if (!subscription) return { url: '', description: '', events: ['password.changed'], enabled: true };
  return { url: subscription.url, description: subscription.description, events: subscription.events, enabled: subscription.enabled };
}

const SECRET_HEADINGS = { created: 'Webhook Added', rotated: 'New Signing Secret' } as const;
type SecretReason = keyof typeof SECRET_HEADINGS;

export function webhookPages(services: Services): FastifyPluginAsync {
  const { webhooks, cookies, clock, config } = services;
  const handoff = new SecretHandoff<SecretReason>('webhook', cookies, new SecretBox(loadSecret(config.secret, config.dataDir), 'webhook-secret-handoff'), clock);

  function showSecretOnce(reply: FastifyReply, auth: Auth, subscription: Subscription, secret: string, reason: SecretReason) {
    handoff.give(reply, subscription.id, auth.user.id, secret, reason);
    return reply.redirect(`/admin/webhooks/${subscription.id}/secret`, 303);
  }

  const render = (reply: FastifyReply, auth: Auth, title: string, body: SafeHtml, status = 200, notice: string | null = null) =>
    sendHtml(reply, consolePage({ title, viewer: auth.user, csrfToken: reply.generateCsrf(), section: '/admin/webhooks', body, notice }), status);

  async function find(id: string): Promise<Subscription> {
    const subscription = await webhooks.get(id);
    if (!subscription) throw new NotFoundError('There is no such webhook.');
    return subscription;
  }

  /** Add or save; a refused form comes back with its values and a message on each field at fault. */
  async function submit(request: FastifyRequest, reply: FastifyReply, body: WebhookFields, existing: Subscription | null) {
    const auth = adminOf(request);
    const { values, input } = readForm(body);
    const actor = actorOf(request, auth.user.id);
    try {
      if (existing) {
        await webhooks.update(existing.id, input, actor);
        return reply.redirect(`/admin/webhooks/${existing.id}?notice=saved`, 303);
      }
      const { subscription, secret } = await webhooks.create(input, actor);
      return showSecretOnce(reply, auth, subscription, secret, 'created');
    } catch (error) {
      if (!(error instanceof UserError) || error.status !== 400) throw error;
      const form = webhookForm({ subscription: existing, csrfToken: reply.generateCsrf(), values, errors: error.fields, error: error.message });
      return render(reply, auth, existing ? 'Webhook' : 'New Webhook', form, 400);
    }
  }

  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();

    app.get('/admin/webhooks', { schema: { querystring: NoticeQuery } }, async (request, reply) => {
      const notice = noticeFor(NOTICES, request.query.notice);
      return render(reply, adminOf(request), 'Webhooks', webhooksList(await webhooks.list()), 200, notice);
    });

    app.get('/admin/webhooks/new', async (request, reply) =>
      render(reply, adminOf(request), 'New Webhook', webhookForm({ subscription: null, csrfToken: reply.generateCsrf(), values: valuesOf(null) })),
    );

    app.post('/admin/webhooks', { schema: { body: WebhookForm } }, async (request, reply) => submit(request, reply, request.body, null));

    app.get('/admin/webhooks/:id', { schema: { params: IdParams, querystring: NoticeQuery } }, async (request, reply) => {
      const subscription = await find(request.params.id);
      const notice = noticeFor(NOTICES, request.query.notice);
      const form = webhookForm({ subscription, csrfToken: reply.generateCsrf(), values: valuesOf(subscription) });
      return render(reply, adminOf(request), 'Webhook', html`${form}${deliveriesTable(await webhooks.deliveries(subscription.id))}`, 200, notice);
    });

    app.post('/admin/webhooks/:id', { schema: { params: IdParams, body: WebhookForm } }, async (request, reply) =>
      submit(request, reply, request.body, await find(request.params.id)),
    );

    app.get('/admin/webhooks/:id/delete', { schema: { params: IdParams } }, async (request, reply) =>
      render(reply, adminOf(request), 'Delete Webhook', deleteConfirm(await find(request.params.id), reply.generateCsrf())),
    );

    app.post('/admin/webhooks/:id/delete', { schema: { params: IdParams, body: ActionForm } }, async (request, reply) => {
      const subscription = await find(request.params.id);
      await webhooks.remove(subscription.id, actorOf(request, adminOf(request).user.id));
      return reply.redirect('/admin/webhooks?notice=deleted', 303);
    });

    app.get('/admin/webhooks/:id/rotate-secret', { schema: { params: IdParams } }, async (request, reply) =>
      render(reply, adminOf(request), 'Rotate Secret', rotateConfirm(await find(request.params.id), reply.generateCsrf())),
    );

    app.post('/admin/webhooks/:id/rotate-secret', { schema: { params: IdParams, body: ActionForm } }, async (request, reply) => {
      const auth = adminOf(request);
      const subscription = await find(request.params.id);
      const secret = await webhooks.rotateSecret(subscription.id, actorOf(request, auth.user.id));
      return showSecretOnce(reply, auth, subscription, secret, 'rotated');
    });

    // Shows a new secret once; opened again (a reload, Back), it goes on to the webhook's page.
    app.get('/admin/webhooks/:id/secret', { schema: { params: IdParams } }, async (request, reply) => {
      const auth = adminOf(request);
      const subscription = await find(request.params.id);
      const shown = handoff.take(request, reply, subscription.id, auth.user.id);
      if (!shown) return reply.redirect(`/admin/webhooks/${subscription.id}?notice=secret-shown`, 303);
      return render(reply, auth, 'Webhook', secretShownOnce(subscription, shown.secret, SECRET_HEADINGS[shown.extra]));
    });
  };
}

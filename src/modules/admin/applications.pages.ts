// The Applications pages: list, register, edit, remove and rotate the secret of the applications that sign people in with Latchkey.
// A new client secret is shown by Post/Redirect/Get: the write answers with a redirect, and the secret travels
// sealed in a short-lived cookie to the page that shows it once and clears it, so reloading that page neither
// repeats the write nor shows the secret again.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Static } from 'typebox';
import { adminOf, type Auth } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { SecretBox } from '../../infra/crypto.ts';
import { SecretHandoff } from '../../infra/handoff.ts';
import { NotFoundError, UserError } from '../../infra/errors.ts';
import { loadSecret } from '../../infra/secret.ts';
import { actorOf, sendHtml } from '../../infra/web.ts';
import { formBody, IdParams, NoticeQuery, text, texts } from '../../infra/page-schemas.ts';
import { noticeFor } from '../../views/components.ts';
import type { SafeHtml } from '../../views/html.ts';
import type { Application, ApplicationInput } from '../applications/applications.service.ts';
import { consolePage } from './console.views.ts';
import { applicationForm, applicationsList, NOTICES, removeConfirm, rotateConfirm, secretShownOnce, type ApplicationFormView } from './applications.views.ts';
import { t } from '../../infra/i18n.ts';

const lines = (text: string) => text.split(/\r?\n/);

const ApplicationFields = formBody({
  name: text(300),
  kind: text(20),
  firstParty: text(10),
  redirectUris: text(12000),
  postLogoutRedirectUris: text(12000),
  scopes: texts(100, 20),
});
const ActionForm = formBody({});

/** The form as the page shows it again, and as the service reads it. */
function readForm(body: Static<typeof ApplicationFields>): { values: ApplicationFormView['values']; input: ApplicationInput } {
  const values = {
    name: body.name ?? '',
    kind: body.kind ?? '',
    firstParty: body.firstParty === 'yes',
    redirectUris: body.redirectUris ?? '',
    postLogoutRedirectUris: body.postLogoutRedirectUris ?? '',
    scopes: body.scopes ?? [],
  };
  const input: ApplicationInput = {
    name: values.name,
    kind: values.kind as ApplicationInput['kind'],
    firstParty: values.firstParty,
    redirectUris: lines(values.redirectUris),
    postLogoutRedirectUris: lines(values.postLogoutRedirectUris),
    scopes: values.scopes,
  };
  return { values, input };
}


/** Why the secret is shown: the page's heading. */
const SECRET_HEADINGS = { created: () => t('applications.registered'), rotated: () => t('applications.newSecret') } as const;
type SecretReason = keyof typeof SECRET_HEADINGS;

function valuesOf(application: Application | null): ApplicationFormView['values'] {
  if (!application) return { name: '', kind: 'confidential', firstParty: false, redirectUris: '', postLogoutRedirectUris: '', scopes: ['profile', 'email'] };
  return {
    name: application.name,
    kind: application.kind,
    firstParty: application.firstParty,
    redirectUris: application.redirectUris.join('\n'),
    postLogoutRedirectUris: application.postLogoutRedirectUris.join('\n'),
    scopes: application.scopes,
  };
}

export function applicationPages(services: Services): FastifyPluginAsync {
  const { applications, cookies, clock, config } = services;
  const handoff = new SecretHandoff<SecretReason>('application', cookies, new SecretBox(loadSecret(config.secret, config.dataDir), 'client-secret-handoff'), clock);

  /** After the write: the secret goes into a sealed cookie, and the browser to the page that shows it. */
  function showSecretOnce(reply: FastifyReply, auth: Auth, application: Application, secret: string, reason: SecretReason) {
    handoff.give(reply, application.id, auth.user.id, secret, reason);
    return reply.redirect(`/admin/applications/${application.id}/secret`, 303);
  }

  const render = (reply: FastifyReply, auth: Auth, title: string, body: SafeHtml, status = 200, notice: string | null = null) =>
    sendHtml(reply, consolePage({ title, viewer: auth.user, csrfToken: reply.generateCsrf(), section: '/admin/applications', body, notice }), status);

  async function find(id: string): Promise<Application> {
    const application = await applications.get(id);
    if (!application) throw new NotFoundError(t('applications.noSuchApplication'));
    return application;
  }

  /** Register or save; a refused form comes back with its values and a message on each field at fault. */
  async function submit(request: FastifyRequest, reply: FastifyReply, body: Static<typeof ApplicationFields>, existing: Application | null) {
    const auth = adminOf(request);
    const { values, input } = readForm(body);
    const actor = actorOf(request, auth.user.id);
    try {
      if (existing) {
        await applications.update(existing.id, input, actor);
        return reply.redirect(`/admin/applications/${existing.id}?notice=saved`, 303);
      }
      const { application, secret } = await applications.create(input, actor);
      if (secret === null) return reply.redirect(`/admin/applications/${application.id}?notice=created`, 303);
      return showSecretOnce(reply, auth, application, secret, 'created');
    } catch (error) {
      if (!(error instanceof UserError) || error.status !== 400) throw error;
      const form = applicationForm({ application: existing, csrfToken: reply.generateCsrf(), values, errors: error.fields, error: error.message });
      return render(reply, auth, existing?.name ?? t('applications.new'), form, 400);
    }
  }

  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();

    app.get('/admin/applications', { schema: { querystring: NoticeQuery } }, async (request, reply) => {
      const notice = noticeFor(NOTICES, request.query.notice)?.() ?? null;
      return render(reply, adminOf(request), t('applications.title'), applicationsList(await applications.list()), 200, notice);
    });

    app.get('/admin/applications/new', async (request, reply) =>
      render(reply, adminOf(request), t('applications.new'), applicationForm({ application: null, csrfToken: reply.generateCsrf(), values: valuesOf(null) })),
    );

    app.post('/admin/applications', { schema: { body: ApplicationFields } }, async (request, reply) => submit(request, reply, request.body, null));

    app.get('/admin/applications/:id', { schema: { params: IdParams, querystring: NoticeQuery } }, async (request, reply) => {
      const application = await find(request.params.id);
      const notice = noticeFor(NOTICES, request.query.notice)?.() ?? null;
      const form = applicationForm({ application, csrfToken: reply.generateCsrf(), values: valuesOf(application) });
      return render(reply, adminOf(request), application.name, form, 200, notice);
    });

    app.post('/admin/applications/:id', { schema: { params: IdParams, body: ApplicationFields } }, async (request, reply) =>
      submit(request, reply, request.body, await find(request.params.id)),
    );

    app.get('/admin/applications/:id/remove', { schema: { params: IdParams } }, async (request, reply) => {
      const application = await find(request.params.id);
      return render(reply, adminOf(request), t('applications.remove'), removeConfirm(application, reply.generateCsrf()));
    });

    app.post('/admin/applications/:id/remove', { schema: { params: IdParams, body: ActionForm } }, async (request, reply) => {
      const application = await find(request.params.id);
      await applications.remove(application.id, actorOf(request, adminOf(request).user.id));
      return reply.redirect('/admin/applications?notice=removed', 303);
    });

    app.get('/admin/applications/:id/rotate-secret', { schema: { params: IdParams } }, async (request, reply) => {
      const application = await find(request.params.id);
      return render(reply, adminOf(request), t('applications.rotate'), rotateConfirm(application, reply.generateCsrf()));
    });

    app.post('/admin/applications/:id/rotate-secret', { schema: { params: IdParams, body: ActionForm } }, async (request, reply) => {
      const auth = adminOf(request);
      const application = await find(request.params.id);
      const secret = await applications.rotateSecret(application.id, actorOf(request, auth.user.id));
      return showSecretOnce(reply, auth, application, secret, 'rotated');
    });

    // Shows a new secret once; opened again (a reload, Back), it goes on to the application's page.
    app.get('/admin/applications/:id/secret', { schema: { params: IdParams } }, async (request, reply) => {
      const auth = adminOf(request);
      const application = await find(request.params.id);
      const shown = handoff.take(request, reply, application.id, auth.user.id);
      if (!shown) return reply.redirect(`/admin/applications/${application.id}?notice=secret-shown`, 303);
      return render(reply, auth, application.name, secretShownOnce(application, shown.secret, SECRET_HEADINGS[shown.extra]()));
    });
  };
}

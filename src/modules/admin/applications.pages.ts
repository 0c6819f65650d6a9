// The Applications pages: list, register, edit, remove and rotate the secret of the applications that sign people in with Latchkey.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { requireAdmin, type Auth } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { NotFoundError, UserError } from '../../infra/errors.ts';
import { actorOf, field } from '../../infra/web.ts';
import { noticeFor } from '../../views/components.ts';
import type { SafeHtml } from '../../views/html.ts';
import type { Application, ApplicationInput } from '../applications/applications.service.ts';
import { consolePage } from './console.views.ts';
import { applicationForm, applicationsList, NOTICES, removeConfirm, rotateConfirm, secretShownOnce, type ApplicationFormView } from './applications.views.ts';

function list(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string');
  return typeof value === 'string' ? [value] : [];
}

const lines = (text: string) => text.split(/\r?\n/);

/** The form as the page shows it again, and as the service reads it. */
function readForm(body: unknown): { values: ApplicationFormView['values']; input: ApplicationInput } {
  const values = {
    name: field(body, 'name', 300),
    kind: field(body, 'kind', 20),
    firstParty: field(body, 'firstParty', 10) === 'yes',
    redirectUris: field(body, 'redirectUris', 12000),
    postLogoutRedirectUris: field(body, 'postLogoutRedirectUris', 12000),
    scopes: list((body as Record<string, unknown> | undefined)?.scopes).slice(0, 20),
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
  const { applications } = services;

  const render = (reply: FastifyReply, auth: Auth, title: string, body: SafeHtml, status = 200, notice: string | null = null) =>
    reply
      .code(status)
      .type('text/html; charset=utf-8')
      .send(consolePage({ title, viewer: auth.user, csrfToken: reply.generateCsrf(), section: '/admin/applications', body, notice }));

  async function find(request: FastifyRequest): Promise<Application> {
    const application = await applications.get((request.params as { id: string }).id);
    if (!application) throw new NotFoundError('There is no such application.');
    return application;
  }

  /** Register or save; a refused form comes back with its values and a message on each field at fault. */
  async function submit(request: FastifyRequest, reply: FastifyReply, auth: Auth, existing: Application | null) {
    const { values, input } = readForm(request.body);
    const actor = actorOf(request, auth.user.id);
    try {
      if (existing) {
        await applications.update(existing.id, input, actor);
        return reply.redirect(`/admin/applications/${existing.id}?notice=saved`, 303);
      }
      const { application, secret } = await applications.create(input, actor);
      if (secret === null) return reply.redirect(`/admin/applications/${application.id}?notice=created`, 303);
      return render(reply, auth, application.name, secretShownOnce(application, secret, 'Application Registered'));
    } catch (error) {
      if (!(error instanceof UserError) || error.status !== 400) throw error;
      const form = applicationForm({ application: existing, csrfToken: reply.generateCsrf(), values, errors: error.fields, error: error.message });
      return render(reply, auth, existing?.name ?? 'New Application', form, 400);
    }
  }

  return async (app) => {
    app.get('/admin/applications', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const notice = noticeFor(NOTICES, (request.query as Record<string, unknown>).notice);
      return render(reply, auth, 'Applications', applicationsList(await applications.list()), 200, notice);
    });

    app.get('/admin/applications/new', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      return render(reply, auth, 'New Application', applicationForm({ application: null, csrfToken: reply.generateCsrf(), values: valuesOf(null) }));
    });

    app.post('/admin/applications', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      return submit(request, reply, auth, null);
    });

    app.get('/admin/applications/:id', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const application = await find(request);
      const notice = noticeFor(NOTICES, (request.query as Record<string, unknown>).notice);
      const form = applicationForm({ application, csrfToken: reply.generateCsrf(), values: valuesOf(application) });
      return render(reply, auth, application.name, form, 200, notice);
    });

    app.post('/admin/applications/:id', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      return submit(request, reply, auth, await find(request));
    });

    app.get('/admin/applications/:id/remove', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const application = await find(request);
      return render(reply, auth, 'Remove Application', removeConfirm(application, reply.generateCsrf()));
    });

    app.post('/admin/applications/:id/remove', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const application = await find(request);
      await applications.remove(application.id, actorOf(request, auth.user.id));
      return reply.redirect('/admin/applications?notice=removed', 303);
    });

    app.get('/admin/applications/:id/rotate-secret', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const application = await find(request);
      return render(reply, auth, 'Rotate Secret', rotateConfirm(application, reply.generateCsrf()));
    });

    app.post('/admin/applications/:id/rotate-secret', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const application = await find(request);
      const secret = await applications.rotateSecret(application.id, actorOf(request, auth.user.id));
      return render(reply, auth, application.name, secretShownOnce(application, secret, 'New Client Secret'));
    });
  };
}

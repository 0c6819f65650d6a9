// The routes of address links: open (swapped for a cookie and a clean URL, as a reset link is), then confirm
// the address or undo an address change with a button; opening alone never uses the link up.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { formLimit } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { UserError } from '../../infra/errors.ts';
import { formBody } from '../../infra/page-schemas.ts';
import { actorOf, sendHtml } from '../../infra/web.ts';
import { LinkUnusable } from './recovery.service.ts';
import type { ADDRESS_PAGE_LINKS } from './addresses.service.ts';
import { addressConfirmedPage, addressRefusedPage, changeUndonePage, confirmAddressPage, undoChangePage } from './addresses.views.ts';
import { unusableLinkPage } from './recovery.views.ts';

// The longest the token may sit in the browser's cookie jar, as for a reset link.
const LINK_COOKIE_MAX_SECONDS = 3600;
const TokenParams = Type.Object({ token: Type.String() });
const ButtonForm = formBody({});

export function addressPages(services: Services): FastifyPluginAsync {
  const { addresses, cookies } = services;
  const showUnusable = (reply: FastifyReply, state: LinkUnusable['state']) =>
    sendHtml(cookies.clear(reply, 'reset'), unusableLinkPage(state, 'confirm'), state === 'invalid' ? 404 : 410);
  const tokenFrom = (request: FastifyRequest) => cookies.read(request, 'reset') ?? '';

  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();

    for (const [path, kind] of [
      ['/confirm-email', 'confirm'],
      ['/undo-email-change', 'undo'],
    ] as Array<[string, keyof typeof ADDRESS_PAGE_LINKS]>) {
      app.get(`${path}/:token`, { onRequest: formLimit(services, 'reset-link'), schema: { params: TokenParams } }, async (request, reply) => {
        const { token } = request.params;
        const inspection = await addresses.inspect(token, kind);
        await services.recovery.recordOpened(inspection, actorOf(request));
        if (inspection.state !== 'usable') return showUnusable(reply, inspection.state);
        const remaining = Math.floor((inspection.link.expires_at - services.clock.now()) / 1000);
        cookies.set(reply, 'reset', token, Math.max(1, Math.min(remaining, LINK_COOKIE_MAX_SECONDS)));
        return reply.redirect(`${path}/confirm`, 303);
      });

      app.get(`${path}/confirm`, async (request, reply) => {
        const inspection = await addresses.inspect(tokenFrom(request), kind);
        if (inspection.state !== 'usable') return showUnusable(reply, inspection.state);
        const { user, link } = inspection;
        const csrfToken = reply.generateCsrf();
        if (kind === 'undo') return sendHtml(reply, undoChangePage({ csrfToken, name: user.name, email: link.email ?? user.email }));
        return sendHtml(reply, confirmAddressPage({ csrfToken, name: user.name, email: link.email ?? user.email, change: link.purpose === 'email-change' }));
      });

      app.post(`${path}/confirm`, { schema: { body: ButtonForm } }, async (request, reply) => {
        try {
          const outcome = await addresses.useAddressLink(tokenFrom(request), kind, actorOf(request));
          cookies.clear(reply, 'reset');
          if (outcome.purpose === 'email-undo') {
            // Every session of the account ended, this browser's too.
            cookies.clear(reply, 'session');
            cookies.sessionChanged(reply);
            return sendHtml(reply, changeUndonePage(outcome.restored));
          }
          const signedIn = Boolean(cookies.read(request, 'session'));
          return sendHtml(reply, addressConfirmedPage({ email: outcome.user.email, change: outcome.purpose === 'email-change', signedIn }));
        } catch (error) {
          if (error instanceof LinkUnusable) return showUnusable(reply, error.state);
          if (!(error instanceof UserError)) throw error;
          return sendHtml(reply, addressRefusedPage(error.message), error.status);
        }
      });
    }
  };
}

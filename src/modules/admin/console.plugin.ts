// The administrator console: every /admin page, registered inside this one encapsulated plugin, whose preValidation
// hook is the guard — a page added here cannot forget it. It runs before the input is checked, so a visitor who is not
// an administrator learns nothing from the console's validation messages, and before the CSRF check and every
// handler (a form forged on another site for an administrator is still refused as "Form expired").
import type { FastifyPluginAsync } from 'fastify';
import { adminGuard } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { securityPages } from '../security/security.pages.ts';
import { apiKeyPages } from './api-keys.pages.ts';
import { applicationPages } from './applications.pages.ts';
import { auditPages } from './audit.pages.ts';
import { mailQueuePages } from './mail-queue.pages.ts';
import { mailServerPages } from './mail-servers.pages.ts';
import { adminUserPages } from './users.pages.ts';
import { webhookPages } from './webhooks.pages.ts';

export function adminConsole(services: Services): FastifyPluginAsync {
  return async (app) => {
    app.addHook('preValidation', adminGuard);
    app.get('/admin', async (_request, reply) => reply.redirect('/admin/users', 303));
    await app.register(adminUserPages(services));
    await app.register(mailQueuePages(services));
    await app.register(auditPages(services));
    await app.register(mailServerPages(services));
    await app.register(securityPages(services));
    await app.register(applicationPages(services));
    await app.register(apiKeyPages(services));
    await app.register(webhookPages(services));
  };
}

// The Audit Log: filter by user, event and time range, newest first, paged; the same view as CSV.
import type { FastifyPluginAsync } from 'fastify';
import { requireAdmin } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { UserError } from '../../infra/errors.ts';
import { AUDIT_TYPES, type AuditType } from '../audit/audit.ts';
import type { AuditQuery } from '../audit/audit.service.ts';
import { consolePage } from './console.views.ts';
import { auditCsv, auditPage } from './audit.views.ts';

const PER_PAGE = 50;
const CSV_MAX_ROWS = 100_000;
const DAY_MS = 86_400_000;

function parseDay(value: string, name: string): number | undefined {
  if (value === '') return undefined;
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  const ms = match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) : Number.NaN;
  if (!match || Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== value) {
    throw new UserError(`"${name}" must be a date like 2026-01-31.`, 400);
  }
  return ms;
}

export function auditPages(services: Services): FastifyPluginAsync {
  const { audit, users } = services;

  async function readFilters(raw: Record<string, unknown>) {
    const text = (name: string) => (typeof raw[name] === 'string' ? (raw[name] as string).trim().slice(0, 254) : '');
    const filters = { user: text('user'), type: text('type'), from: text('from'), to: text('to') };
    const query: Omit<AuditQuery, 'limit'> = {};
    if (filters.type && (AUDIT_TYPES as string[]).includes(filters.type)) query.type = filters.type as AuditType;
    else filters.type = '';
    query.from = parseDay(filters.from, 'From');
    const to = parseDay(filters.to, 'To');
    if (to !== undefined) query.to = to + DAY_MS; // "To" is inclusive: the whole day.
    if (filters.user) {
      const email = filters.user.toLowerCase();
      const user = await users.findByEmail(email);
      if (user) query.userId = user.id;
      else query.email = email;
    }
    const params = new URLSearchParams(Object.entries(filters).filter(([, value]) => value !== ''));
    return { filters, query, params };
  }

  return async (app) => {
    app.get('/admin/audit', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const raw = request.query as Record<string, unknown>;
      const page = Math.max(1, Math.min(1_000_000, Number.parseInt(String(raw.page ?? '1'), 10) || 1));
      let view;
      try {
        const { filters, query, params } = await readFilters(raw);
        const { rows, total } = await audit.list({ ...query, limit: PER_PAGE, offset: (page - 1) * PER_PAGE });
        view = auditPage({ rows, total, filters, page, perPage: PER_PAGE, params });
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        reply.code(400);
        view = auditPage({ rows: [], total: 0, filters: { user: '', type: '', from: '', to: '' }, page: 1, perPage: PER_PAGE, params: new URLSearchParams(), error: error.message });
      }
      return reply
        .type('text/html; charset=utf-8')
        .send(consolePage({ title: 'Audit Log', viewer: auth.user, csrfToken: reply.generateCsrf(), section: '/admin/audit', body: view }));
    });

    app.get('/admin/audit.csv', async (request, reply) => {
      const auth = await requireAdmin(request, reply);
      if (!auth) return reply;
      const { query } = await readFilters(request.query as Record<string, unknown>);
      const { rows } = await audit.list({ ...query, limit: CSV_MAX_ROWS });
      const day = new Date(services.clock.now()).toISOString().slice(0, 10);
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="latchkey-audit-${day}.csv"`)
        .send(auditCsv(rows));
    });
  };
}

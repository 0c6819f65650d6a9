// The Audit Log: filter by user, event and time range, newest first, paged; the same view as CSV.
import { isIP } from 'node:net';
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { adminOf } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { UserError } from '../../infra/errors.ts';
import { pageNumber, pageOf, query, text } from '../../infra/page-schemas.ts';
import { sendHtml } from '../../infra/web.ts';
import { AUDIT_TYPES, type AuditType } from '../audit/audit.ts';
import type { AuditQuery } from '../audit/audit.service.ts';
import { consolePage } from './console.views.ts';
import { parseNetwork } from '../security/networks.ts';
import { auditCsv, auditPage } from './audit.views.ts';
import { t } from '../../infra/i18n.ts';

const PER_PAGE = 50;
const CSV_MAX_ROWS = 100_000;
const DAY_MS = 86_400_000;

/** The filters as the form and the Security view's links set them; each is checked (with a message) below. */
const FILTERS = { user: text(1000), type: text(2000), account: text(100), ip: text(1000), from: text(100), to: text(100) };
const AuditQuery = query({ ...FILTERS, page: pageNumber });
const CsvQuery = query(FILTERS);
type Filters = Partial<Record<keyof typeof FILTERS, string>>;

function parseDay(value: string, name: string): number | undefined {
  if (value === '') return undefined;
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  const ms = match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) : Number.NaN;
  if (!match || Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== value) {
    throw new UserError(t('audit.error.day', { name }), 400);
  }
  return ms;
}

/** A date (the whole day) or a time to the minute, UTC, as the Security view links them: 2026-01-31T14:00. */
function parseMoment(value: string, name: string): { ms: number; wholeDay: boolean } | undefined {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!match) {
    const day = parseDay(value, name);
    return day === undefined ? undefined : { ms: day, wholeDay: true };
  }
  const [hours, minutes, seconds] = [Number(match[2]), Number(match[3]), Number(match[4] ?? 0)];
  if (hours > 23 || minutes > 59 || seconds > 59) throw new UserError(t('audit.error.moment', { name }), 400);
  return { ms: parseDay(match[1]!, name)! + ((hours * 60 + minutes) * 60 + seconds) * 1000, wholeDay: false };
}

export function auditPages(services: Services): FastifyPluginAsync {
  const { audit, users } = services;

  async function readFilters(raw: Filters) {
    const value = (name: keyof Filters) => (raw[name] ?? '').trim().slice(0, 254);
    const filters = { user: value('user'), type: value('type'), account: value('account'), ip: value('ip'), from: value('from'), to: value('to') };
    const query: Omit<AuditQuery, 'limit'> = {};
    // One event type, or several separated by commas (a figure of the Security view that adds them up).
    const types = filters.type.split(',');
    if (filters.type && types.every((type) => (AUDIT_TYPES as string[]).includes(type))) {
      if (types.length === 1) query.type = types[0] as AuditType;
      else query.types = types as AuditType[];
    } else filters.type = '';
    if (filters.account === 'known' || filters.account === 'unknown') query.account = filters.account;
    else if (filters.account !== '') throw new UserError(t('audit.error.account'), 400);
    query.from = parseMoment(filters.from, t('audit.filter.from'))?.ms;
    const to = parseMoment(filters.to, t('audit.filter.to'));
    if (to !== undefined) query.to = to.wholeDay ? to.ms + DAY_MS : to.ms; // A day is inclusive: the whole day.
    if (filters.user) {
      const email = filters.user.toLowerCase();
      const user = await users.findByEmail(email);
      if (user) query.userId = user.id;
      else query.email = email;
    }
    if (filters.ip.includes('/')) {
      const network = parseNetwork(filters.ip);
      if (!network) throw new UserError(t('audit.error.ip'), 400);
      Object.assign(query, await services.security.addressesIn(network, query));
    } else if (filters.ip) {
      if (isIP(filters.ip) === 0) throw new UserError(t('audit.error.ip'), 400);
      query.ip = filters.ip;
    }
    const params = new URLSearchParams(Object.entries(filters).filter(([, value]) => value !== ''));
    return { filters, query, params };
  }

  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();

    app.get('/admin/audit', { schema: { querystring: AuditQuery } }, async (request, reply) => {
      const auth = adminOf(request);
      const { page, offset } = pageOf(request.query.page, PER_PAGE);
      let view;
      try {
        const { filters, query, params } = await readFilters(request.query);
        const { rows, total } = await audit.list({ ...query, limit: PER_PAGE, offset });
        view = auditPage({ rows, total, filters, page, perPage: PER_PAGE, params });
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        reply.code(400);
        view = auditPage({ rows: [], total: 0, filters: { user: '', type: '', account: '', ip: '', from: '', to: '' }, page: 1, perPage: PER_PAGE, params: new URLSearchParams(), error: error.message });
      }
      return sendHtml(reply, consolePage({ title: t('audit.title'), viewer: auth.user, csrfToken: reply.generateCsrf(), section: '/admin/audit', body: view }));
    });

    app.get('/admin/audit.csv', { schema: { querystring: CsvQuery } }, async (request, reply) => {
      const { query } = await readFilters(request.query);
      const { rows } = await audit.list({ ...query, limit: CSV_MAX_ROWS });
      const day = new Date(services.clock.now()).toISOString().slice(0, 10);
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="latchkey-audit-${day}.csv"`)
        .send(auditCsv(rows));
    });
  };
}

// The users pages of the console: the list with search, filters, sorting and bulk reset; a user's page; forms.
import { languageField } from '../../views/language-select.ts';
import { html, type SafeHtml } from '../../views/html.ts';
import { userAgentCell } from '../../views/user-agent.ts';
import type { Session } from '../sessions/sessions.repo.ts';
import { auditLabel } from '../audit/audit.ts';
import { t, translator } from '../../infra/i18n.ts';
import type { AuditRow } from '../audit/audit.service.ts';
import { COUNT_CAP, isInvited, type ListedUser, type User, type UserFilter, type UserSort } from '../users/users.repo.ts';
import { pager } from './console.views.ts';
import { csrfField, newPasswordFields, passwordRefusal, when } from '../../views/components.ts';
import { twoStepOn, type TwoStepMethods } from '../twostep/twostep.service.ts';
import type { UndeliverableMark } from '../mail/bounces.service.ts';

// Labels are functions, called as a page is rendered: only then is the reader's language known.
export const FILTER_LABELS: Record<UserFilter, () => string> = {
  active: () => t('users.filter.active'),
  archived: () => t('users.filter.archived'),
  admins: () => t('users.filter.admins'),
  'reset-pending': () => t('users.filter.resetPending'),
  'never-logged-in': () => t('users.filter.neverLoggedIn'),
  'two-step-on': () => t('users.filter.twoStepOn'),
  'two-step-off': () => t('users.filter.twoStepOff'),
  invited: () => t('users.filter.invited'),
  'invitation-expired': () => t('users.filter.invitationExpired'),
  unverified: () => t('users.filter.unverified'),
  'unverified-year': () => t('users.filter.unverifiedYear'),
  undeliverable: () => t('users.filter.undeliverable'),
};

const COLUMNS: Array<{ sort: UserSort; label: () => string }> = [
  { sort: 'name', label: () => t('users.field.name') },
  { sort: 'email', label: () => t('users.field.email') },
  { sort: 'role', label: () => t('users.field.role') },
  { sort: 'status', label: () => t('users.field.status') },
  { sort: 'last_login', label: () => t('users.field.lastLogin') },
  { sort: 'password_changed', label: () => t('users.field.passwordChanged') },
];

export const roleLabel = (role: User['role']) => (role === 'admin' ? t('users.role.admin') : t('users.role.user'));
/** "Invited" until the password is chosen, then "Active"; or "Archived". */
export const statusLabel = (user: Pick<User, 'status' | 'password_hash'>) =>
  isInvited(user) ? t('users.status.invited') : user.status === 'active' ? t('users.status.active') : t('users.status.archived');
const verifiedLabel = (user: User) => (user.email_verified_at === null ? t('users.no') : when(user.email_verified_at));
const yesNo = (yes: boolean | number) => (yes ? t('users.yes') : t('users.no'));
const lastLogin = (at: number | null) => (at === null ? t('users.never') : when(at));
/** "more than 10,000" when a count stopped at its cap, else the count, in the reader's way of writing numbers. */
const matchingCount = (capped: boolean, total: number) => (capped ? t('users.list.moreThan', { count: translator().number(COUNT_CAP) }) : translator().number(total));

export interface UsersListView {
  rows: ListedUser[];
  total: number;
  search: string;
  filters: UserFilter[];
  sort: UserSort;
  dir: 'asc' | 'desc';
  page: number;
  perPage: number;
  params: URLSearchParams;
  csrfToken: string;
}

export function usersList(view: UsersListView): SafeHtml {
  const sortLink = (sort: UserSort) => {
    const next = new URLSearchParams(view.params);
    next.set('sort', sort);
    next.set('dir', view.sort === sort && view.dir === 'asc' ? 'desc' : 'asc');
    next.delete('page');
    return `/admin/users?${next.toString()}`;
  };
  const arrow = (sort: UserSort) => (view.sort === sort ? (view.dir === 'asc' ? ' ▲' : ' ▼') : '');
  // A search or filter is counted up to COUNT_CAP only; above it the list says "more than".
  const countCapped = (view.search !== '' || view.filters.length > 0) && view.total > COUNT_CAP;
  return html`<div class="card">
<h1>${t('users.list.title')}</h1>
<p><a class="button" href="/admin/users/new">${t('users.new.title')}</a></p>
<form method="get" action="/admin/users" role="search">
  <label for="q">${t('users.list.search')}</label>
  <input id="q" name="q" type="search" value="${view.search}" maxlength="200" placeholder="${t('users.list.searchHint')}">
  <fieldset class="filters"><legend>${t('users.list.filters')}</legend>
  ${(Object.keys(FILTER_LABELS) as UserFilter[]).map(
    (filter) => html`<label class="check"><input type="checkbox" name="filter" value="${filter}"${view.filters.includes(filter) ? html` checked` : ''}> ${FILTER_LABELS[filter]()}</label>`,
  )}
  </fieldset>
  <input type="hidden" name="sort" value="${view.sort}"><input type="hidden" name="dir" value="${view.dir}">
  <button type="submit">${t('users.list.search')}</button>
</form>
</div>
<div class="card">
<form method="post" action="/admin/users/bulk-reset">
${csrfField(view.csrfToken)}
<input type="hidden" name="q" value="${view.search}">
${view.filters.map((filter) => html`<input type="hidden" name="filter" value="${filter}">`)}
<table>
<thead><tr><th><span class="visually-hidden">${t('users.list.select')}</span></th>${COLUMNS.map(
    (column) => html`<th><a href="${sortLink(column.sort)}">${column.label()}${arrow(column.sort)}</a></th>`,
  )}<th>${t('users.field.emailVerified')}</th><th>${t('users.field.resetPending')}</th></tr></thead>
<tbody>${view.rows.map(
    (user) => html`<tr>
<td><input type="checkbox" name="ids" value="${user.id}" aria-label="${t('users.list.selectUser', { name: user.name })}"></td>
<td><a href="/admin/users/${user.id}">${user.name}</a></td><td>${user.email}${user.undeliverable ? html` <span class="flag">${t('users.undeliverable')}</span>` : ''}</td><td>${roleLabel(user.role)}</td><td>${statusLabel(user)}</td>
<td>${lastLogin(user.last_login_at)}</td><td>${when(user.password_changed_at)}</td><td>${verifiedLabel(user)}</td><td>${yesNo(user.reset_pending)}</td></tr>`,
  )}</tbody>
</table>
${view.rows.length === 0 ? html`<p class="muted">${t('users.list.noMatch')}</p>` : ''}
${countCapped ? cappedPager(view) : pager('/admin/users', view.params, view.page, view.perPage, view.total, 'users')}
<p>
<button type="submit" name="scope" value="selected">${t('users.action.sendReset')}</button>
<button type="submit" name="scope" value="matching" class="secondary">${t('users.list.sendToAll', { count: matchingCount(countCapped, view.total) })}</button>
</p>
<p>
<button type="submit" name="scope" value="selected" formaction="/admin/users/bulk-confirm-email">${t('users.action.confirmEmail')}</button>
<button type="submit" name="scope" value="matching" formaction="/admin/users/bulk-confirm-email" class="secondary">${t('users.list.askAll', { count: matchingCount(countCapped, view.total) })}</button>
</p>
</form>
</div>`;
}

/** The pager when the count stopped at COUNT_CAP: "Page 3 (more than 10,000 users in all)", and Next while the page is full. */
function cappedPager(view: UsersListView): SafeHtml {
  const link = (target: number) => {
    const next = new URLSearchParams(view.params);
    next.set('page', String(target));
    return `/admin/users?${next.toString()}`;
  };
  return html`<nav class="pager" aria-label="${t('console.pager.label')}">
${view.page > 1 ? html`<a href="${link(view.page - 1)}" rel="prev">${t('console.pager.previous')}</a>` : ''}
<span>${t('users.list.cappedPage', { page: translator().number(view.page), count: translator().number(COUNT_CAP) })}</span>
${view.rows.length === view.perPage ? html`<a href="${link(view.page + 1)}" rel="next">${t('console.pager.next')}</a>` : ''}
</nav>`;
}

/** The bulk actions of the users list: their titles, questions and summaries. */
export const BULK_ACTIONS = {
  reset: {
    path: '/admin/users/bulk-reset',
    title: () => t('users.action.sendReset'),
    question: (count: number) => t('users.bulk.resetQuestion', { count }),
    summary: () => t('users.bulk.resetSummary'),
  },
  'confirm-email': {
    path: '/admin/users/bulk-confirm-email',
    title: () => t('users.action.confirmEmail'),
    question: (count: number) => t('users.bulk.confirmQuestion', { count }),
    summary: () => t('users.bulk.confirmSummary'),
  },
} as const;
export type BulkAction = keyof typeof BULK_ACTIONS;

export function bulkConfirm(options: { action: BulkAction; csrfToken: string; count: number; hidden: Array<[string, string]>; tooMany: boolean; cap: number }): SafeHtml {
  const action = BULK_ACTIONS[options.action];
  if (options.count === 0) {
    return html`<div class="card narrow"><h1>${action.title()}</h1><p class="error" role="alert">${t('users.bulk.selectFirst')}</p><p><a href="/admin/users">${t('users.backToUsers')}</a></p></div>`;
  }
  if (options.tooMany) {
    return html`<div class="card narrow"><h1>${action.title()}</h1><p class="error" role="alert">${t('users.bulk.tooMany', { cap: translator().number(options.cap) })}</p><p><a href="/admin/users">${t('users.backToUsers')}</a></p></div>`;
  }
  return html`<div class="card narrow">
<h1>${action.title()}</h1>
<p>${action.question(options.count)}</p>
<form method="post" action="${action.path}">
${csrfField(options.csrfToken)}
${options.hidden.map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
<input type="hidden" name="confirmed" value="1">
<button type="submit">${t('users.confirm')}</button> <a class="button secondary" href="${backToList(options.hidden)}">${t('users.cancel')}</a>
</form>
</div>`;
}

/** The list as it was before the bulk action: its search and filters, from the form's hidden fields. */
function backToList(hidden: Array<[string, string]>): string {
  const params = new URLSearchParams(hidden.filter(([name, value]) => (name === 'q' || name === 'filter') && value !== ''));
  return params.size > 0 ? `/admin/users?${params.toString()}` : '/admin/users';
}

export function bulkSummary(action: BulkAction, queued: User[], refused: Array<{ user: User; reason: string }>): SafeHtml {
  return html`<div class="card">
<h1>${BULK_ACTIONS[action].summary()}</h1>
<p role="status">${t('users.bulk.outcome', { queued: queued.length, refused: refused.length })}</p>
${queued.length > 0 ? html`<h2>${t('users.bulk.queued')}</h2><ul>${queued.map((user) => html`<li>${user.name} &lt;${user.email}&gt;</li>`)}</ul>` : ''}
${refused.length > 0 ? html`<h2>${t('users.bulk.refused')}</h2><ul>${refused.map(({ user, reason }) => html`<li>${user.name} &lt;${user.email}&gt;: ${reason}</li>`)}</ul>` : ''}
<p><a href="/admin/users">${t('users.backToUsers')}</a></p>
</div>`;
}

export interface UserForm {
  email: string;
  name: string;
  role: User['role'];
  /** On the Edit form only: the user's language (null: the browser's). */
  language?: string | null;
  errors?: Record<string, string>;
  error?: string | null;
}

function userFields(form: UserForm): SafeHtml {
  const errors = form.errors ?? {};
  const fieldError = (name: string) => (errors[name] ? html`<span class="field-error" id="${name}-error">${errors[name]}</span>` : '');
  return html`<label for="name">${t('users.field.name')}</label>
<input id="name" name="name" type="text" required maxlength="100" value="${form.name}">${fieldError('name')}
<label for="email">${t('users.field.email')}</label>
<input id="email" name="email" type="email" required maxlength="254" value="${form.email}">${fieldError('email')}
<label for="role">${t('users.field.role')}</label>
<select id="role" name="role"><option value="user"${form.role === 'user' ? html` selected` : ''}>${t('users.role.user')}</option><option value="admin"${form.role === 'admin' ? html` selected` : ''}>${t('users.role.admin')}</option></select>
${form.language !== undefined ? languageField('language', form.language) : ''}`;
}

export function newUserForm(csrfToken: string, form: UserForm, rules: string[]): SafeHtml {
  return html`<div class="card narrow">
<h1>${t('users.new.title')}</h1>
${form.error ? html`<p class="error" role="alert">${form.error}</p>` : ''}
<form method="post" action="/admin/users">
${csrfField(csrfToken)}
${userFields(form)}
<label for="password">${t('users.new.password')}</label>
<input id="password" name="password" type="password" autocomplete="new-password" maxlength="1024" aria-describedby="rules">
<p id="rules" class="rules">${t('users.new.passwordHint', { rules: rules.join('; ') })}</p>
<button type="submit">${t('users.new.create')}</button> <a class="button secondary" href="/admin/users">${t('users.cancel')}</a>
</form>
</div>`;
}

export interface UserPageView {
  user: User;
  csrfToken: string;
  sessions: Session[];
  activity: AuditRow[];
  resetPending: boolean;
  twoStep: TwoStepMethods;
  /** The hard bounce that marked the address, if one did. */
  undeliverable: UndeliverableMark | null;
  form: UserForm;
  rules: string[];
  passwordBroken?: string[];
  passwordError?: string | null;
}

/** The user's methods in a line: the app, the passkeys, the recovery codes left. */
function twoStepSummary(methods: TwoStepMethods): string {
  const parts = [];
  if (methods.authenticator) parts.push(t('users.twoStep.authenticator', { createdAt: when(methods.authenticator.createdAt), lastUsedAt: when(methods.authenticator.lastUsedAt) }));
  if (methods.passkeys.length > 0) parts.push(t('users.twoStep.passkeys', { count: methods.passkeys.length, names: methods.passkeys.map((passkey) => passkey.name).join(', ') }));
  parts.push(t('users.twoStep.recoveryCodes', { count: methods.recoveryCodesLeft }));
  return parts.join('; ');
}

export function userPage(view: UserPageView): SafeHtml {
  const { user, csrfToken } = view;
  const hidden = csrfField(csrfToken);
  return html`<div class="card">
<div class="title-row"><h1>${user.name}</h1>
<details class="menu"><summary class="button">${t('users.page.action')}</summary>
<ul>${isInvited(user) ? html`<li><a href="/admin/users/${user.id}/resend-invitation">${t('users.action.resendInvitation')}</a></li>` : ''}<li><a href="/admin/users/${user.id}/send-reset">${t('users.action.sendReset')}</a></li>${isInvited(user)
    ? ''
    : html`<li><a href="/admin/users/${user.id}/confirm-email">${t('users.action.confirmEmail')}</a></li>`}${twoStepOn(view.twoStep)
    ? html`<li><a href="/admin/users/${user.id}/remove-two-step">${t('users.action.removeTwoStep')}</a></li>`
    : ''}</ul>
</details></div>
<dl class="details">
<dt>${t('users.field.email')}</dt><dd>${user.email}</dd>${view.undeliverable
    ? html`<dt>${t('users.page.emailDelivery')}</dt><dd data-testid="email-delivery"><span class="flag">${t('users.undeliverable')}</span>: ${t('users.page.bounced', { markedAt: when(view.undeliverable.marked_at), reason: view.undeliverable.reason })}</dd>`
    : ''}<dt>${t('users.field.emailVerified')}</dt><dd>${verifiedLabel(user)}</dd><dt>${t('users.field.role')}</dt><dd>${roleLabel(user.role)}</dd><dt>${t('users.field.status')}</dt><dd>${statusLabel(user)}</dd>
<dt>${t('users.field.created')}</dt><dd>${when(user.created_at)}</dd><dt>${t('users.field.lastLogin')}</dt><dd>${lastLogin(user.last_login_at)}</dd>
<dt>${t('users.field.passwordChanged')}</dt><dd>${when(user.password_changed_at)}</dd><dt>${t('users.field.resetPending')}</dt><dd>${yesNo(view.resetPending)}</dd>
<dt>${t('users.field.twoStep')}</dt><dd data-testid="two-step-methods">${twoStepOn(view.twoStep) ? twoStepSummary(view.twoStep) : t('users.twoStep.off')}</dd>
</dl>
<form method="post" action="/admin/users/${user.id}/${user.status === 'active' ? 'archive' : 'restore'}">${hidden}<button type="submit" class="secondary">${user.status === 'active' ? t('users.page.archive') : t('users.page.restore')}</button></form>
</div>
<div class="card">
<h2>${t('users.page.edit')}</h2>
${view.form.error ? html`<p class="error" role="alert">${view.form.error}</p>` : ''}
<form method="post" action="/admin/users/${user.id}">${hidden}
${userFields(view.form)}
<button type="submit">${t('users.page.save')}</button>
</form>
</div>
<div class="card">
<h2>${t('users.page.setPassword')}</h2>
${passwordRefusal(view.passwordBroken, view.passwordError)}
<form method="post" action="/admin/users/${user.id}/password">${hidden}
${newPasswordFields(view.rules, 'new-')}
<p class="muted">${t('users.page.setPasswordHint')}</p>
<button type="submit">${t('users.page.setPassword')}</button>
</form>
</div>
<div class="card">
<h2>${t('users.page.sessions')}</h2>
${view.sessions.length === 0
  ? html`<p class="muted">${t('users.page.noSession')}</p>`
  : html`<table><thead><tr><th>${t('users.page.started')}</th><th>${t('users.page.lastActive')}</th><th>${t('users.field.address')}</th><th>${t('users.field.browser')}</th></tr></thead><tbody>${view.sessions.map(
      (session) => html`<tr><td>${when(session.created_at)}</td><td>${when(session.last_seen_at)}</td><td>${session.ip}</td>${userAgentCell(session.user_agent)}</tr>`,
    )}</tbody></table>
<form method="post" action="/admin/users/${user.id}/end-sessions">${hidden}<button type="submit" class="secondary">${t('users.page.endSessions')}</button></form>`}
</div>
<div class="card">
<h2>${t('users.page.activity')}</h2>
${activityTable(view.activity)}
<p><a href="/admin/audit?user=${encodeURIComponent(user.email)}">${t('users.page.allActivity')}</a></p>
</div>`;
}

export function activityTable(rows: AuditRow[]): SafeHtml {
  if (rows.length === 0) return html`<p class="muted">${t('users.activity.none')}</p>`;
  return html`<table><thead><tr><th>${t('users.activity.time')}</th><th>${t('users.activity.event')}</th><th>${t('users.activity.user')}</th><th>${t('users.activity.by')}</th><th>${t('users.field.address')}</th><th>${t('users.field.browser')}</th><th>${t('users.activity.details')}</th></tr></thead><tbody>${rows.map(
    (row) => html`<tr><td>${when(row.at)}</td><td>${auditLabel(row.type)}</td><td>${row.user_email ?? row.email ?? ''}</td><td>${row.actor_email ?? ''}</td><td>${row.ip ?? ''}</td>${userAgentCell(row.user_agent)}<td>${describeDetail(row.detail)}</td></tr>`,
  )}</tbody></table>`;
}

/** The event's details as short "key: value" text; nested objects as compact JSON. */
export function describeDetail(detail: string | null): string {
  if (!detail) return '';
  try {
    const parsed = JSON.parse(detail) as Record<string, unknown>;
    return Object.entries(parsed)
      .filter(([key]) => key !== 'message' && key !== 'link')
      .map(([key, value]) => `${key}: ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`)
      .join(', ');
  } catch {
    return detail;
  }
}

export function sendResetConfirm(user: User, csrfToken: string): SafeHtml {
  return html`<div class="card narrow">
<h1>${t('users.action.sendReset')}</h1>
<p>${t('users.confirmReset', { name: user.name, email: user.email })}</p>
<form method="post" action="/admin/users/${user.id}/send-reset">
${csrfField(csrfToken)}
<button type="submit">${t('users.confirm')}</button> <a class="button secondary" href="/admin/users/${user.id}">${t('users.cancel')}</a>
</form>
</div>`;
}

/** The confirmation step of a per-user Action that mails the user: Resend Invitation, Ask to Confirm Email. */
export const MAIL_ACTIONS = {
  'resend-invitation': {
    title: () => t('users.action.resendInvitation'),
    question: (user: User) => t('users.confirmResendInvitation', { name: user.name, email: user.email }),
  },
  'confirm-email': {
    title: () => t('users.action.confirmEmail'),
    question: (user: User) => t('users.confirmConfirmEmail', { name: user.name, email: user.email }),
  },
} as const;
export type MailAction = keyof typeof MAIL_ACTIONS;

export function mailActionConfirm(action: MailAction, user: User, csrfToken: string): SafeHtml {
  return html`<div class="card narrow">
<h1>${MAIL_ACTIONS[action].title()}</h1>
<p>${MAIL_ACTIONS[action].question(user)}</p>
<form method="post" action="/admin/users/${user.id}/${action}">
${csrfField(csrfToken)}
<button type="submit">${t('users.confirm')}</button> <a class="button secondary" href="/admin/users/${user.id}">${t('users.cancel')}</a>
</form>
</div>`;
}

export function removeTwoStepConfirm(user: User, csrfToken: string): SafeHtml {
  return html`<div class="card narrow">
<h1>${t('users.action.removeTwoStep')}</h1>
<p>${t('users.confirmRemoveTwoStep', { name: user.name, email: user.email })}</p>
<form method="post" action="/admin/users/${user.id}/remove-two-step">
${csrfField(csrfToken)}
<button type="submit">${t('users.confirm')}</button> <a class="button secondary" href="/admin/users/${user.id}">${t('users.cancel')}</a>
</form>
</div>`;
}

export function actionRefused(user: User, message: string, title = t('users.action.sendReset')): SafeHtml {
  return html`<div class="card narrow">
<h1>${title}</h1>
<p class="error" role="alert">${message}</p>
<p><a href="/admin/users/${user.id}">${t('users.backTo', { name: user.name })}</a></p>
</div>`;
}

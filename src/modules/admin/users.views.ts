// The users pages of the console: the list with search, filters, sorting and bulk reset; a user's page; forms.
import { languageField } from '../../views/language-select.ts';
import { html, type SafeHtml } from '../../views/html.ts';
import { userAgentCell } from '../../views/user-agent.ts';
import type { Session } from '../sessions/sessions.repo.ts';
import { AUDIT_LABELS } from '../audit/audit.ts';
import type { AuditRow } from '../audit/audit.service.ts';
import { COUNT_CAP, isInvited, type ListedUser, type User, type UserFilter, type UserSort } from '../users/users.repo.ts';
import { pager } from './console.views.ts';
import { csrfField, newPasswordFields, passwordRefusal, when } from '../../views/components.ts';
import { twoStepOn, type TwoStepMethods } from '../twostep/twostep.service.ts';
import type { UndeliverableMark } from '../mail/bounces.service.ts';

export const FILTER_LABELS: Record<UserFilter, string> = {
  active: 'Active',
  archived: 'Archived',
  admins: 'Administrators',
  'reset-pending': 'Reset pending',
  'never-logged-in': 'Never logged in',
  'two-step-on': 'Two-step on',
  'two-step-off': 'Two-step off',
  invited: 'Invited',
  'invitation-expired': 'Invitation expired',
  unverified: 'Unverified',
  'unverified-year': 'Unverified for over a year',
  undeliverable: 'Undeliverable',
};

const COLUMNS: Array<{ sort: UserSort; label: string }> = [
  { sort: 'name', label: 'Name' },
  { sort: 'email', label: 'Email' },
  { sort: 'role', label: 'Role' },
  { sort: 'status', label: 'Status' },
  { sort: 'last_login', label: 'Last Login' },
  { sort: 'password_changed', label: 'Password Changed' },
];

export const roleLabel = (role: User['role']) => (role === 'admin' ? 'Administrator' : 'User');
/** "Invited" until the password is chosen, then "Active"; or "Archived". */
export const statusLabel = (user: Pick<User, 'status' | 'password_hash'>) => (isInvited(user) ? 'Invited' : user.status === 'active' ? 'Active' : 'Archived');
const verifiedLabel = (user: User) => (user.email_verified_at === null ? 'No' : when(user.email_verified_at));

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
<h1>Users</h1>
<p><a class="button" href="/admin/users/new">New User</a></p>
<form method="get" action="/admin/users" role="search">
  <label for="q">Search</label>
  <input id="q" name="q" type="search" value="${view.search}" maxlength="200" placeholder="Part of a name or email">
  <fieldset class="filters"><legend>Filters</legend>
  ${(Object.keys(FILTER_LABELS) as UserFilter[]).map(
    (filter) => html`<label class="check"><input type="checkbox" name="filter" value="${filter}"${view.filters.includes(filter) ? html` checked` : ''}> ${FILTER_LABELS[filter]}</label>`,
  )}
  </fieldset>
  <input type="hidden" name="sort" value="${view.sort}"><input type="hidden" name="dir" value="${view.dir}">
  <button type="submit">Search</button>
</form>
</div>
<div class="card">
<form method="post" action="/admin/users/bulk-reset">
${csrfField(view.csrfToken)}
<input type="hidden" name="q" value="${view.search}">
${view.filters.map((filter) => html`<input type="hidden" name="filter" value="${filter}">`)}
<table>
<thead><tr><th><span class="visually-hidden">Select</span></th>${COLUMNS.map(
    (column) => html`<th><a href="${sortLink(column.sort)}">${column.label}${arrow(column.sort)}</a></th>`,
  )}<th>Email Verified</th><th>Reset Pending</th></tr></thead>
<tbody>${view.rows.map(
    (user) => html`<tr>
<td><input type="checkbox" name="ids" value="${user.id}" aria-label="Select ${user.name}"></td>
<td><a href="/admin/users/${user.id}">${user.name}</a></td><td>${user.email}${user.undeliverable ? html` <span class="flag">Undeliverable</span>` : ''}</td><td>${roleLabel(user.role)}</td><td>${statusLabel(user)}</td>
<td>${user.last_login_at === null ? 'Never' : when(user.last_login_at)}</td><td>${when(user.password_changed_at)}</td><td>${verifiedLabel(user)}</td><td>${user.reset_pending ? 'Yes' : 'No'}</td></tr>`,
  )}</tbody>
</table>
${view.rows.length === 0 ? html`<p class="muted">No user matches.</p>` : ''}
${countCapped ? cappedPager(view) : pager('/admin/users', view.params, view.page, view.perPage, view.total, ['user', 'users'])}
<p>
<button type="submit" name="scope" value="selected">Send Password Reset Instructions</button>
<button type="submit" name="scope" value="matching" class="secondary">Send to all ${countCapped ? `more than ${COUNT_CAP.toLocaleString('en-US')}` : view.total.toLocaleString('en-US')} matching users</button>
</p>
<p>
<button type="submit" name="scope" value="selected" formaction="/admin/users/bulk-confirm-email">Ask to Confirm Email</button>
<button type="submit" name="scope" value="matching" formaction="/admin/users/bulk-confirm-email" class="secondary">Ask all ${countCapped ? `more than ${COUNT_CAP.toLocaleString('en-US')}` : view.total.toLocaleString('en-US')} matching users to confirm</button>
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
  return html`<nav class="pager" aria-label="Pages">
${view.page > 1 ? html`<a href="${link(view.page - 1)}" rel="prev">Previous</a>` : ''}
<span>Page ${view.page} (more than ${COUNT_CAP.toLocaleString('en-US')} users in all)</span>
${view.rows.length === view.perPage ? html`<a href="${link(view.page + 1)}" rel="next">Next</a>` : ''}
</nav>`;
}

/** The bulk actions of the users list: their titles, questions and summaries. */
export const BULK_ACTIONS = {
  reset: {
    path: '/admin/users/bulk-reset',
    title: 'Send Password Reset Instructions',
    question: (count: string) => `Send password reset instructions to ${count}? Each gets a new link; earlier links stop working.`,
    summary: 'Reset instructions: summary',
  },
  'confirm-email': {
    path: '/admin/users/bulk-confirm-email',
    title: 'Ask to Confirm Email',
    question: (count: string) => `Ask ${count} to confirm their email address? Each gets a mail with a link that only confirms the address; earlier such links stop working.`,
    summary: 'Requests to confirm: summary',
  },
} as const;
export type BulkAction = keyof typeof BULK_ACTIONS;

export function bulkConfirm(options: { action: BulkAction; csrfToken: string; count: number; hidden: Array<[string, string]>; tooMany: boolean; cap: number }): SafeHtml {
  const action = BULK_ACTIONS[options.action];
  if (options.count === 0) {
    return html`<div class="card narrow"><h1>${action.title}</h1><p class="error" role="alert">Select at least one user first.</p><p><a href="/admin/users">Back to Users</a></p></div>`;
  }
  if (options.tooMany) {
    return html`<div class="card narrow"><h1>${action.title}</h1><p class="error" role="alert">More than ${options.cap.toLocaleString('en-US')} users match: a bulk action reaches at most ${options.cap.toLocaleString('en-US')}. Narrow the search or the filters first.</p><p><a href="/admin/users">Back to Users</a></p></div>`;
  }
  return html`<div class="card narrow">
<h1>${action.title}</h1>
<p>${action.question(`${options.count.toLocaleString('en-US')} ${options.count === 1 ? 'user' : 'users'}`)}</p>
<form method="post" action="${action.path}">
${csrfField(options.csrfToken)}
${options.hidden.map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
<input type="hidden" name="confirmed" value="1">
<button type="submit">Confirm</button> <a class="button secondary" href="${backToList(options.hidden)}">Cancel</a>
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
<h1>${BULK_ACTIONS[action].summary}</h1>
<p role="status">Queued for ${queued.length} ${queued.length === 1 ? 'user' : 'users'}; refused for ${refused.length}.</p>
${queued.length > 0 ? html`<h2>Queued</h2><ul>${queued.map((user) => html`<li>${user.name} &lt;${user.email}&gt;</li>`)}</ul>` : ''}
${refused.length > 0 ? html`<h2>Refused</h2><ul>${refused.map(({ user, reason }) => html`<li>${user.name} &lt;${user.email}&gt;: ${reason}</li>`)}</ul>` : ''}
<p><a href="/admin/users">Back to Users</a></p>
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
  return html`<label for="name">Name</label>
<input id="name" name="name" type="text" required maxlength="100" value="${form.name}">${fieldError('name')}
<label for="email">Email</label>
<input id="email" name="email" type="email" required maxlength="254" value="${form.email}">${fieldError('email')}
<label for="role">Role</label>
<select id="role" name="role"><option value="user"${form.role === 'user' ? html` selected` : ''}>User</option><option value="admin"${form.role === 'admin' ? html` selected` : ''}>Administrator</option></select>
${form.language !== undefined ? languageField('language', form.language) : ''}`;
}

export function newUserForm(csrfToken: string, form: UserForm, rules: string[]): SafeHtml {
  return html`<div class="card narrow">
<h1>New User</h1>
${form.error ? html`<p class="error" role="alert">${form.error}</p>` : ''}
<form method="post" action="/admin/users">
${csrfField(csrfToken)}
${userFields(form)}
<label for="password">Password (optional)</label>
<input id="password" name="password" type="password" autocomplete="new-password" maxlength="1024" aria-describedby="rules">
<p id="rules" class="rules">Leave empty to send the user an invitation by email, with a link to choose a password. Otherwise: ${rules.join('; ')}.</p>
<button type="submit">Create User</button> <a class="button secondary" href="/admin/users">Cancel</a>
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
  if (methods.authenticator) parts.push(`Authenticator app (set up ${when(methods.authenticator.createdAt)}, last used ${when(methods.authenticator.lastUsedAt)})`);
  if (methods.passkeys.length > 0) parts.push(`${methods.passkeys.length} ${methods.passkeys.length === 1 ? 'passkey' : 'passkeys'} (${methods.passkeys.map((passkey) => passkey.name).join(', ')})`);
  return `${parts.join('; ')}; ${methods.recoveryCodesLeft} recovery codes left`;
}

export function userPage(view: UserPageView): SafeHtml {
  const { user, csrfToken } = view;
  const hidden = csrfField(csrfToken);
  return html`<div class="card">
<div class="title-row"><h1>${user.name}</h1>
<details class="menu"><summary class="button">Action</summary>
<ul>${isInvited(user) ? html`<li><a href="/admin/users/${user.id}/resend-invitation">Resend Invitation</a></li>` : ''}<li><a href="/admin/users/${user.id}/send-reset">Send Password Reset Instructions</a></li>${isInvited(user)
    ? ''
    : html`<li><a href="/admin/users/${user.id}/confirm-email">Ask to Confirm Email</a></li>`}${twoStepOn(view.twoStep)
    ? html`<li><a href="/admin/users/${user.id}/remove-two-step">Remove Two-Step Verification</a></li>`
    : ''}</ul>
</details></div>
<dl class="details">
<dt>Email</dt><dd>${user.email}</dd>${view.undeliverable
    ? html`<dt>Email Delivery</dt><dd data-testid="email-delivery"><span class="flag">Undeliverable</span>: mail to this address bounced on ${when(view.undeliverable.marked_at)} (${view.undeliverable.reason}). Reach the person another way; the mark goes when a link mailed to this address is used.</dd>`
    : ''}<dt>Email Verified</dt><dd>${verifiedLabel(user)}</dd><dt>Role</dt><dd>${roleLabel(user.role)}</dd><dt>Status</dt><dd>${statusLabel(user)}</dd>
<dt>Created</dt><dd>${when(user.created_at)}</dd><dt>Last Login</dt><dd>${user.last_login_at === null ? 'Never' : when(user.last_login_at)}</dd>
<dt>Password Changed</dt><dd>${when(user.password_changed_at)}</dd><dt>Reset Pending</dt><dd>${view.resetPending ? 'Yes' : 'No'}</dd>
<dt>Two-Step Verification</dt><dd data-testid="two-step-methods">${twoStepOn(view.twoStep) ? twoStepSummary(view.twoStep) : 'Off'}</dd>
</dl>
<form method="post" action="/admin/users/${user.id}/${user.status === 'active' ? 'archive' : 'restore'}">${hidden}<button type="submit" class="secondary">${user.status === 'active' ? 'Archive' : 'Restore'}</button></form>
</div>
<div class="card">
<h2>Edit</h2>
${view.form.error ? html`<p class="error" role="alert">${view.form.error}</p>` : ''}
<form method="post" action="/admin/users/${user.id}">${hidden}
${userFields(view.form)}
<button type="submit">Save</button>
</form>
</div>
<div class="card">
<h2>Set Password</h2>
${passwordRefusal(view.passwordBroken, view.passwordError)}
<form method="post" action="/admin/users/${user.id}/password">${hidden}
${newPasswordFields(view.rules, 'new-')}
<p class="muted">Every session of the user ends, and the user is told by email.</p>
<button type="submit">Set Password</button>
</form>
</div>
<div class="card">
<h2>Active sessions</h2>
${view.sessions.length === 0
  ? html`<p class="muted">No active session.</p>`
  : html`<table><thead><tr><th>Started</th><th>Last active</th><th>Address</th><th>Browser</th></tr></thead><tbody>${view.sessions.map(
      (session) => html`<tr><td>${when(session.created_at)}</td><td>${when(session.last_seen_at)}</td><td>${session.ip}</td>${userAgentCell(session.user_agent)}</tr>`,
    )}</tbody></table>
<form method="post" action="/admin/users/${user.id}/end-sessions">${hidden}<button type="submit" class="secondary">End all sessions</button></form>`}
</div>
<div class="card">
<h2>Recent security activity</h2>
${activityTable(view.activity)}
<p><a href="/admin/audit?user=${encodeURIComponent(user.email)}">All activity in the Audit Log</a></p>
</div>`;
}

export function activityTable(rows: AuditRow[]): SafeHtml {
  if (rows.length === 0) return html`<p class="muted">Nothing recorded yet.</p>`;
  return html`<table><thead><tr><th>Time</th><th>Event</th><th>User</th><th>By</th><th>Address</th><th>Browser</th><th>Details</th></tr></thead><tbody>${rows.map(
    (row) => html`<tr><td>${when(row.at)}</td><td>${AUDIT_LABELS[row.type as keyof typeof AUDIT_LABELS] ?? row.type}</td><td>${row.user_email ?? row.email ?? ''}</td><td>${row.actor_email ?? ''}</td><td>${row.ip ?? ''}</td>${userAgentCell(row.user_agent)}<td>${describeDetail(row.detail)}</td></tr>`,
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
<h1>Send Password Reset Instructions</h1>
<p>Send password reset instructions to ${user.name} &lt;${user.email}&gt;? A new link is emailed; any earlier link stops working.</p>
<form method="post" action="/admin/users/${user.id}/send-reset">
${csrfField(csrfToken)}
<button type="submit">Confirm</button> <a class="button secondary" href="/admin/users/${user.id}">Cancel</a>
</form>
</div>`;
}

/** The confirmation step of a per-user Action that mails the user: Resend Invitation, Ask to Confirm Email. */
export const MAIL_ACTIONS = {
  'resend-invitation': {
    title: 'Resend Invitation',
    question: (user: User) => `Send a new invitation to ${user.name} <${user.email}>? The earlier invitation link stops working.`,
  },
  'confirm-email': {
    title: 'Ask to Confirm Email',
    question: (user: User) => `Ask ${user.name} <${user.email}> to confirm this email address? A mail with a link that only confirms the address is sent; nothing else changes.`,
  },
} as const;
export type MailAction = keyof typeof MAIL_ACTIONS;

export function mailActionConfirm(action: MailAction, user: User, csrfToken: string): SafeHtml {
  return html`<div class="card narrow">
<h1>${MAIL_ACTIONS[action].title}</h1>
<p>${MAIL_ACTIONS[action].question(user)}</p>
<form method="post" action="/admin/users/${user.id}/${action}">
${csrfField(csrfToken)}
<button type="submit">Confirm</button> <a class="button secondary" href="/admin/users/${user.id}">Cancel</a>
</form>
</div>`;
}

export function removeTwoStepConfirm(user: User, csrfToken: string): SafeHtml {
  return html`<div class="card narrow">
<h1>Remove Two-Step Verification</h1>
<p>Remove two-step verification from ${user.name} &lt;${user.email}&gt;? The authenticator app, the passkeys and the recovery codes stop working, every session of the user ends, and the user is told by email. Their password alone will then let them in.</p>
<form method="post" action="/admin/users/${user.id}/remove-two-step">
${csrfField(csrfToken)}
<button type="submit">Confirm</button> <a class="button secondary" href="/admin/users/${user.id}">Cancel</a>
</form>
</div>`;
}

export function actionRefused(user: User, message: string, title = 'Send Password Reset Instructions'): SafeHtml {
  return html`<div class="card narrow">
<h1>${title}</h1>
<p class="error" role="alert">${message}</p>
<p><a href="/admin/users/${user.id}">Back to ${user.name}</a></p>
</div>`;
}

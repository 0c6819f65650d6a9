// Versioned schema migrations, written with Kysely's schema builder so they run on SQLite and PostgreSQL alike.
import { PostgresAdapter, sql, type Kysely, type Migration } from 'kysely';

// Migrations see an untyped database: they describe the schema of their own moment, not today's.
type AnyDb = Kysely<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const onPostgres = (db: AnyDb) => db.getExecutor().adapter instanceof PostgresAdapter;

export const migrations: Record<string, Migration> = {
  '0001_accounts_sessions_recovery_mail_audit': {
    async up(db: AnyDb) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_login_at', 'bigint')
        .addColumn('password_changed_at', 'bigint')
        .execute();

      await db.schema
        .createTable('sessions')
        .addColumn('id_hash', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('absolute_expires_at', 'bigint', (c) => c.notNull())
        .addColumn('ip', 'text', (c) => c.notNull())
        .addColumn('user_agent', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('sessions_user_id').on('sessions').column('user_id').execute();

      await db.schema
        .createTable('reset_links')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .addColumn('revoked_reason', 'text')
        .addColumn('requested_by', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('reset_links_user_created').on('reset_links').columns(['user_id', 'created_at']).execute();

      await db.schema
        .createTable('mail_messages')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('template', 'text', (c) => c.notNull())
        .addColumn('to_address', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('params', 'text', (c) => c.notNull())
        .addColumn('sealed_token', 'text')
        .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('set null'))
        .addColumn('reset_link_id', 'text', (c) => c.references('reset_links.id').onDelete('set null'))
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('lease_until', 'bigint')
        .addColumn('last_error', 'text')
        .addColumn('transport', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('sent_at', 'bigint')
        .execute();
      await db.schema.createIndex('mail_messages_due').on('mail_messages').columns(['status', 'next_attempt_at']).execute();

      await db.schema
        .createTable('mail_attempts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('message_id', 'text', (c) => c.notNull().references('mail_messages.id').onDelete('cascade'))
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('server', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('reply', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('mail_attempts_message').on('mail_attempts').column('message_id').execute();

      await db.schema
        .createTable('audit_events')
        // Grows with every event, so it is the log's order: SQLite's rowid itself, an identity column on PostgreSQL.
        .addColumn('id', onPostgres(db) ? 'bigint' : 'integer', (c) => (onPostgres(db) ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey()))
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text')
        .addColumn('actor_id', 'text')
        .addColumn('email', 'text')
        .addColumn('ip', 'text')
        .addColumn('user_agent', 'text')
        .addColumn('detail', 'text')
        .execute();
      await db.schema.createIndex('audit_events_user').on('audit_events').columns(['user_id', 'at']).execute();
      await db.schema.createIndex('audit_events_email').on('audit_events').columns(['email', 'type', 'at']).execute();
    },
    async down(db: AnyDb) {
      for (const table of ['audit_events', 'mail_attempts', 'mail_messages', 'reset_links', 'sessions', 'users']) {
        await db.schema.dropTable(table).execute();
      }
    },
  },
  '0002_users_console': {
    async up(db: AnyDb) {
      // Lower-cased "name email" computed in JavaScript, which lower-cases all of Unicode (SQLite's lower() does ASCII only).
      await db.schema.alterTable('users').addColumn('search_key', 'text', (c) => c.notNull().defaultTo('')).execute();
      const users = await db.selectFrom('users').select(['id', 'name', 'email']).execute();
      for (const user of users as Array<{ id: string; name: string; email: string }>) {
        await db.updateTable('users').set({ search_key: `${user.name} ${user.email}`.toLowerCase() }).where('id', '=', user.id).execute();
      }
      // search_key rides along in the sort indexes so a search filters index entries without visiting rows.
      await db.schema.createIndex('users_name').on('users').columns(['name', 'email', 'search_key']).execute();
      await db.schema.createIndex('users_search_key').on('users').column('search_key').execute();
      await db.schema.createIndex('users_last_login').on('users').column('last_login_at').execute();
      await db.schema.createIndex('users_password_changed').on('users').column('password_changed_at').execute();
      await db.schema.createIndex('users_status').on('users').column('status').execute();
      await db.schema
        .createIndex('reset_links_open')
        .on('reset_links')
        .columns(['user_id', 'expires_at'])
        .where(sql<boolean>`used_at is null and revoked_at is null`)
        .execute();
      await db.schema.createIndex('audit_events_type').on('audit_events').columns(['type', 'at']).execute();
    },
    async down(db: AnyDb) {
      for (const index of ['users_name', 'users_search_key', 'users_last_login', 'users_password_changed', 'users_status', 'reset_links_open', 'audit_events_type']) {
        await db.schema.dropIndex(index).execute();
      }
      await db.schema.alterTable('users').dropColumn('search_key').execute();
    },
  },
  '0003_mail_servers': {
    async up(db: AnyDb) {
      await db.schema
        .createTable('mail_servers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('port', 'integer', (c) => c.notNull())
        .addColumn('security', 'text', (c) => c.notNull())
        .addColumn('username', 'text')
        .addColumn('password_sealed', 'text')
        .addColumn('from_address', 'text')
        .addColumn('priority', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('mail_servers').execute();
    },
  },
  '0004_sealed_tokens': {
    async up(db: AnyDb) {
      // The few messages that still hold a sealed reset token, found fast to wipe them.
      await db.schema.createIndex('mail_messages_sealed').on('mail_messages').column('user_id').where(sql<boolean>`sealed_token is not null`).execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropIndex('mail_messages_sealed').execute();
    },
  },
  '0005_mail_claims': {
    async up(db: AnyDb) {
      // Which claim holds a message: workers on several instances fence their writes on it, not on a time.
      await db.schema.alterTable('mail_messages').addColumn('claim_id', 'text').execute();
      // The Mail Queue lists newest first; the order of insertion is no longer SQLite's rowid.
      await db.schema.createIndex('mail_messages_created').on('mail_messages').columns(['created_at', 'id']).execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropIndex('mail_messages_created').execute();
      await db.schema.alterTable('mail_messages').dropColumn('claim_id').execute();
    },
  },
  '0006_throttle': {
    async up(db: AnyDb) {
      // rate-limiter-flexible's layout (its SQLite and PostgreSQL stores insert key, points, expire in this order).
      await db.schema
        .createTable('throttle_counts')
        .addColumn('key', 'varchar(255)', (c) => c.primaryKey())
        .addColumn('points', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('expire', 'bigint')
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('throttle_counts').execute();
    },
  },
  '0007_users_search': {
    async up(db: AnyDb) {
      // A search for any part of a name or email is a substring of search_key: a trigram index answers it
      // without reading every user. Each sort of the list gets an index in its full order (the column, then
      // email), so a page is read in order rather than sorted out of many equal values (a third of all users
      // have never logged in); these also serve the filters.
      for (const index of ['users_status', 'users_last_login', 'users_password_changed']) await db.schema.dropIndex(index).execute();
      for (const [index, column] of SORT_INDEXES) await db.schema.createIndex(index).on('users').columns([column, 'email']).execute();
      if (onPostgres(db)) {
        // pg_trgm is a trusted extension: the database's owner may create it (see the README).
        await sql`create extension if not exists pg_trgm`.execute(db);
        await sql`create index users_search_trgm on users using gin (search_key gin_trgm_ops)`.execute(db);
        return;
      }
      // FTS5 over users.search_key (no second copy of the text), kept in step by triggers in the same transaction.
      await sql`create virtual table users_search using fts5(search_key, content='users', content_rowid='rowid', tokenize='trigram case_sensitive 1')`.execute(db);
      await sql`create trigger users_search_insert after insert on users begin
        insert into users_search(rowid, search_key) values (new.rowid, new.search_key); end`.execute(db);
      await sql`create trigger users_search_delete after delete on users begin
        insert into users_search(users_search, rowid, search_key) values ('delete', old.rowid, old.search_key); end`.execute(db);
      await sql`create trigger users_search_update after update of search_key on users begin
        insert into users_search(users_search, rowid, search_key) values ('delete', old.rowid, old.search_key);
        insert into users_search(rowid, search_key) values (new.rowid, new.search_key); end`.execute(db);
      await sql`insert into users_search(users_search) values ('rebuild')`.execute(db);
    },
    async down(db: AnyDb) {
      if (onPostgres(db)) {
        await db.schema.dropIndex('users_search_trgm').execute();
      } else {
        for (const trigger of ['users_search_insert', 'users_search_delete', 'users_search_update']) await sql`drop trigger ${sql.id(trigger)}`.execute(db);
        await sql`drop table users_search`.execute(db);
      }
      for (const [index] of SORT_INDEXES) await db.schema.dropIndex(index).execute();
      await db.schema.createIndex('users_last_login').on('users').column('last_login_at').execute();
      await db.schema.createIndex('users_password_changed').on('users').column('password_changed_at').execute();
      await db.schema.createIndex('users_status').on('users').column('status').execute();
    },
  },
  '0008_reset_requests': {
    async up(db: AnyDb) {
      // A self-service request is recorded in this one small write and answered; the courier's pass looks the
      // address up, issues the link and queues the mail. The answer costs the same for every address.
      await db.schema
        .createTable('reset_requests')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('typed', 'text', (c) => c.notNull())
        .addColumn('ip', 'text')
        .addColumn('user_agent', 'text')
        .addColumn('requested_at', 'bigint', (c) => c.notNull())
        .addColumn('claim_id', 'text')
        .addColumn('lease_until', 'bigint')
        .execute();
      await db.schema.createIndex('reset_requests_order').on('reset_requests').columns(['requested_at']).execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('reset_requests').execute();
    },
  },
  '0009_users_list_covering': {
    async up(db: AnyDb) {
      // PostgreSQL: the list read in name order tests each search and filter on index entries alone, so a page's
      // ids come from an index-only scan and only those rows are read. (SQLite reads 940k index entries at the
      // same speed with or without the filter columns in the index: measured at 1,000,000 users, so unchanged.)
      if (!onPostgres(db)) return;
      await db.schema.dropIndex('users_name').execute();
      await sql`create index users_name on users (name, email) include (id, search_key, status, role, last_login_at)`.execute(db);
    },
    async down(db: AnyDb) {
      if (!onPostgres(db)) return;
      await db.schema.dropIndex('users_name').execute();
      await db.schema.createIndex('users_name').on('users').columns(['name', 'email', 'search_key']).execute();
    },
  },
  '0010_security': {
    async up(db: AnyDb) {
      // The Security view and the alert rules count events by type and hour, by address, network and account:
      // this index answers them from its entries alone. It starts with (type, at), so it replaces that index.
      await db.schema.createIndex('audit_events_activity').on('audit_events').columns(['type', 'at', 'ip', 'email', 'user_id']).execute();
      await db.schema.dropIndex('audit_events_type').execute();
      await db.schema
        .createTable('security_alerts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        // What it is about: an IP address, a network, an email address; empty for the whole service.
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('raised_at', 'bigint', (c) => c.notNull())
        .addColumn('summary', 'text', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull())
        .addColumn('acknowledged_at', 'bigint')
        .addColumn('acknowledged_by', 'text')
        .execute();
      await db.schema.createIndex('security_alerts_subject').on('security_alerts').columns(['kind', 'subject', 'raised_at']).execute();
      await db.schema.createIndex('security_alerts_raised').on('security_alerts').column('raised_at').execute();
      // One row per kind of alert: when administrators were last mailed about it (at most once an hour).
      await db.schema
        .createTable('security_alert_mails')
        .addColumn('kind', 'text', (c) => c.primaryKey())
        .addColumn('mailed_at', 'bigint', (c) => c.notNull())
        .execute();
      // The database's size, sampled once an hour by the alert chore, for its growth.
      await db.schema
        .createTable('database_size_samples')
        .addColumn('at', 'bigint', (c) => c.primaryKey())
        .addColumn('bytes', 'bigint', (c) => c.notNull())
        .execute();
    },
    async down(db: AnyDb) {
      for (const table of ['database_size_samples', 'security_alert_mails', 'security_alerts']) await db.schema.dropTable(table).execute();
      await db.schema.createIndex('audit_events_type').on('audit_events').columns(['type', 'at']).execute();
      await db.schema.dropIndex('audit_events_activity').execute();
    },
  },
  '0011_retention': {
    async up(db: AnyDb) {
      // The periodic cleanup (modules/retention) finds old rows through these instead of reading whole tables.
      await db.schema.createIndex('sessions_expires').on('sessions').column('expires_at').execute();
      await db.schema.createIndex('reset_links_expires').on('reset_links').column('expires_at').execute();
      // Deleting a link sets its mails' reset_link_id to null: without this, each deleted link reads every mail.
      await db.schema.createIndex('mail_messages_link').on('mail_messages').column('reset_link_id').execute();
      // (Events of nobody's account are found through audit_events_user, whose user_id is null for them; old
      // events in general from the start of the log, in id order; old finished mail through mail_messages_created.)
    },
    async down(db: AnyDb) {
      for (const index of ['sessions_expires', 'reset_links_expires', 'mail_messages_link']) await db.schema.dropIndex(index).execute();
    },
  },
  '0012_sessions_remembered': {
    async up(db: AnyDb) {
      // Sessions end with the browser unless the user ticks "Remember me"; earlier sessions were all remembered.
      await db.schema.alterTable('sessions').addColumn('remembered', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.updateTable('sessions').set({ remembered: 1 }).execute();
    },
    async down(db: AnyDb) {
      await db.schema.alterTable('sessions').dropColumn('remembered').execute();
    },
  },
  '0013_applications': {
    async up(db: AnyDb) {
      // Relying parties of the OpenID Connect provider; the id is the client_id. The lists are JSON arrays.
      await db.schema
        .createTable('applications')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('first_party', 'integer', (c) => c.notNull())
        .addColumn('redirect_uris', 'text', (c) => c.notNull())
        .addColumn('post_logout_redirect_uris', 'text', (c) => c.notNull())
        .addColumn('scopes', 'text', (c) => c.notNull())
        // A confidential application's client secret, sealed with the installation secret (the provider compares it).
        .addColumn('secret_sealed', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('secret_rotated_at', 'bigint')
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('applications').execute();
    },
  },
  '0014_oidc': {
    async up(db: AnyDb) {
      // What the OpenID Connect provider stores (modules/oidc/adapter.ts): sessions, grants, interactions, codes
      // and tokens, one row each, by model name and id; the payload is the provider's JSON. Times in milliseconds.
      await db.schema
        .createTable('oidc_models')
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('grant_id', 'text')
        .addColumn('user_code', 'text')
        .addColumn('uid', 'text')
        // The user it belongs to, so that ending a user's sessions ends their applications' grants and tokens too.
        .addColumn('account_id', 'text')
        .addColumn('expires_at', 'bigint')
        .addColumn('consumed_at', 'bigint')
        .addPrimaryKeyConstraint('oidc_models_pk', ['model', 'id'])
        .execute();
      await db.schema.createIndex('oidc_models_grant').on('oidc_models').column('grant_id').execute();
      await db.schema.createIndex('oidc_models_uid').on('oidc_models').column('uid').execute();
      await db.schema.createIndex('oidc_models_account').on('oidc_models').column('account_id').execute();
      await db.schema.createIndex('oidc_models_expires').on('oidc_models').column('expires_at').execute();
      // Signing keys, each a private JWK sealed with the installation secret.
      await db.schema
        .createTable('oidc_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('sealed_jwk', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('retired_at', 'bigint')
        .addColumn('expires_at', 'bigint')
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('oidc_keys').execute();
      await db.schema.dropTable('oidc_models').execute();
    },
  },
  '0015_oidc_models_client': {
    async up(db: AnyDb) {
      // The application an artifact was issued to (the provider's clientId), so that removing an application or
      // "Revoke" finds its grants, codes and tokens by index instead of reading every payload.
      await db.schema.alterTable('oidc_models').addColumn('client_id', 'text').execute();
      await (onPostgres(db)
        ? sql`update oidc_models set client_id = payload::jsonb ->> 'clientId' where model <> 'Session'`
        : sql`update oidc_models set client_id = json_extract(payload, '$.clientId') where model <> 'Session'`
      ).execute(db);
      await db.schema.createIndex('oidc_models_client').on('oidc_models').columns(['client_id', 'account_id']).execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropIndex('oidc_models_client').execute();
      await db.schema.alterTable('oidc_models').dropColumn('client_id').execute();
    },
  },
  '0016_oidc_revoked_applications': {
    async up(db: AnyDb) {
      // "Revoke" on /account: until the user enters the password in a sign-in to that application again, the
      // still-live Latchkey session does not sign them in to it (modules/oidc/grants.service.ts).
      await db.schema
        .createTable('oidc_revoked_applications')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('client_id', 'text', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        .addColumn('revoked_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('oidc_revoked_applications_pk', ['user_id', 'client_id'])
        .execute();
      // Removing an application deletes its rows through the foreign key: this index finds them.
      await db.schema.createIndex('oidc_revoked_applications_client').on('oidc_revoked_applications').column('client_id').execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('oidc_revoked_applications').execute();
    },
  },
  '0017_webhooks': {
    async up(db: AnyDb) {
      // Administrators' subscriptions: where to send which events; the signing secret sealed with the installation secret.
      await db.schema
        .createTable('webhook_subscriptions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('events', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('secret_sealed', 'text', (c) => c.notNull())
        // Only events recorded after the subscription was made are sent to it.
        .addColumn('after_event_id', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('secret_rotated_at', 'bigint')
        .execute();
      // One delivery per event and subscription, whichever instance turned the event into it (the unique key).
      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('subscription_id', 'text', (c) => c.notNull().references('webhook_subscriptions.id').onDelete('cascade'))
        .addColumn('event_id', 'bigint', (c) => c.notNull())
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('lease_until', 'bigint')
        .addColumn('claim_id', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('delivered_at', 'bigint')
        .addColumn('last_error', 'text')
        .addUniqueConstraint('webhook_deliveries_event', ['subscription_id', 'event_id'])
        .execute();
      await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').columns(['status', 'next_attempt_at']).execute();
      await db.schema.createIndex('webhook_deliveries_recent').on('webhook_deliveries').columns(['subscription_id', 'created_at']).execute();
      await db.schema
        .createTable('webhook_attempts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('delivery_id', 'text', (c) => c.notNull().references('webhook_deliveries.id').onDelete('cascade'))
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('error', 'text')
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('webhook_attempts_delivery').on('webhook_attempts').columns(['delivery_id', 'at']).execute();
      // How far the dispatcher has read the audit log; it starts at today's end, so no past event is sent.
      await db.schema
        .createTable('webhook_cursor')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('last_event_id', 'bigint', (c) => c.notNull())
        .execute();
      await sql`insert into webhook_cursor (name, last_event_id) select 'audit', coalesce(max(id), 0) from audit_events`.execute(db);
    },
    async down(db: AnyDb) {
      for (const table of ['webhook_cursor', 'webhook_attempts', 'webhook_deliveries', 'webhook_subscriptions']) {
        await db.schema.dropTable(table).execute();
      }
    },
  },
  '0019_api_keys': {
    async up(db: AnyDb) {
      // Keys for the JSON API: only a SHA-256 of each key is kept (a key is 256 random bits, so a fast hash is
      // enough); the prefix is its first characters, shown in lists so a person can tell keys apart.
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('key_hash', 'text', (c) => c.notNull().unique())
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('created_by', 'text')
        .addColumn('expires_at', 'bigint')
        .addColumn('last_used_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute();
      // The answer to a POST made with an Idempotency-Key, kept a day: a client that retries gets it again
      // instead of a second mail.
      await db.schema
        .createTable('api_idempotency')
        .addColumn('key_id', 'text', (c) => c.notNull().references('api_keys.id').onDelete('cascade'))
        .addColumn('idempotency_key', 'text', (c) => c.notNull())
        .addColumn('request_hash', 'text', (c) => c.notNull())
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('api_idempotency_pk', ['key_id', 'idempotency_key'])
        .execute();
      await db.schema.createIndex('api_idempotency_created').on('api_idempotency').column('created_at').execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('api_idempotency').execute();
      await db.schema.dropTable('api_keys').execute();
    },
  },
  '0020_two_step': {
    async up(db: AnyDb) {
      // One authenticator app per user; its primary key is the set the users list's "Two-step on/off" filters read.
      // last_used_step: the last time step accepted, so no code is accepted twice.
      await db.schema
        .createTable('two_step_authenticators')
        .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
        .addColumn('secret_sealed', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_step', 'bigint')
        .addColumn('last_used_at', 'bigint')
        .execute();
      // Recovery codes: a SHA-256 of each (a code is 50 random bits, tried only under the second step's throttle).
      await db.schema
        .createTable('two_step_recovery_codes')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('code_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addPrimaryKeyConstraint('two_step_recovery_codes_pk', ['user_id', 'code_hash'])
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('two_step_recovery_codes').execute();
      await db.schema.dropTable('two_step_authenticators').execute();
    },
  },
  '0021_passkeys': {
    async up(db: AnyDb) {
      // Passkeys (WebAuthn credentials), several per user; credential_id is base64url, as browsers send it back.
      // passwordless: the user chose, at registration, to log in with this passkey alone (it is discoverable and
      // verifies the user). backed_up: synced between devices (a software key) rather than bound to one.
      await db.schema
        .createTable('passkeys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('credential_id', 'text', (c) => c.notNull().unique())
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('counter', 'bigint', (c) => c.notNull())
        .addColumn('transports', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('passwordless', 'integer', (c) => c.notNull())
        .addColumn('backed_up', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .execute();
      await db.schema.createIndex('passkeys_user').on('passkeys').columns(['user_id']).execute();
      // Challenges answered: a SHA-256 of each, kept until it would have expired anyway, so none is answered twice.
      await db.schema
        .createTable('passkey_challenges_used')
        .addColumn('challenge_hash', 'text', (c) => c.primaryKey())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('passkey_challenges_used_expiry').on('passkey_challenges_used').columns(['expires_at']).execute();
      // How each session began (RFC 8176 values, space-separated), for the ID token's amr; earlier ones read as 'pwd'.
      await db.schema.alterTable('sessions').addColumn('amr', 'text').execute();
    },
    async down(db: AnyDb) {
      await db.schema.alterTable('sessions').dropColumn('amr').execute();
      await db.schema.dropTable('passkey_challenges_used').execute();
      await db.schema.dropTable('passkeys').execute();
    },
  },
  '0022_addresses': {
    async up(db: AnyDb) {
      // When the user last proved the address by using an emailed link; null = unverified. Users who exist at
      // migration time start unverified: nothing so far tells which of their addresses were ever proven.
      await db.schema.alterTable('users').addColumn('email_verified_at', 'bigint').execute();
      // One table for every emailed link, so each shares the link rules (single use, newest only, voided by
      // changes, hashed token): what the link is for, and the address it is about (the pending new address of
      // an address change; the old address an undo link restores; the address a confirmation proves).
      await db.schema.alterTable('reset_links').addColumn('purpose', 'text', (c) => c.notNull().defaultTo('reset')).execute();
      await db.schema.alterTable('reset_links').addColumn('email', 'text').execute();
    },
    async down(db: AnyDb) {
      await db.schema.alterTable('reset_links').dropColumn('email').execute();
      await db.schema.alterTable('reset_links').dropColumn('purpose').execute();
      await db.schema.alterTable('users').dropColumn('email_verified_at').execute();
    },
  },
  '0023_bounces': {
    async up(db: AnyDb) {
      // Addresses a hard bounce marked "Undeliverable". Keyed by the address (not the user), so an email change
      // leaves the old mark behind with the old address; the users list's filter reads it as a set, like two-step.
      // No reference to mail_messages: retention may remove the bounced message, the mark stays.
      await db.schema
        .createTable('undeliverable_addresses')
        .addColumn('email', 'text', (c) => c.primaryKey())
        .addColumn('message_id', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('marked_at', 'bigint', (c) => c.notNull())
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('undeliverable_addresses').execute();
    },
  },
  '0024_languages': {
    async up(db: AnyDb) {
      // A user's chosen language (null: the browser's before login, the installation's in mails), and the language
      // each mail was written in, so the worker renders the body in the language of the subject.
      await db.schema.alterTable('users').addColumn('language', 'text').execute();
      await db.schema.alterTable('mail_messages').addColumn('language', 'text').execute();
      // The language a self-service request was made in: its mail speaks it when the account chose none.
      await db.schema.alterTable('reset_requests').addColumn('language', 'text').execute();
    },
    async down(db: AnyDb) {
      await db.schema.alterTable('reset_requests').dropColumn('language').execute();
      await db.schema.alterTable('mail_messages').dropColumn('language').execute();
      await db.schema.alterTable('users').dropColumn('language').execute();
    },
  },
};

/** The indexes 0007 gives the users list's sorts, each on (column, email). */
const SORT_INDEXES = [
  ['users_role_order', 'role'],
  ['users_status_order', 'status'],
  ['users_last_login_order', 'last_login_at'],
  ['users_password_changed_order', 'password_changed_at'],
] as const;

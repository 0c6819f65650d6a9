// /api/docs: the OpenAPI document as a page a person reads — no script, every operation, its fields and its answers.
import { html, type SafeHtml } from '../../views/html.ts';
import { page } from '../../views/layout.ts';
import type { ApiScope } from '../apikeys/apikeys.service.ts';
import { PROBLEMS } from './problems.ts';

type Schema = {
  type?: string | string[];
  $ref?: string;
  format?: string;
  description?: string;
  enum?: unknown[];
  const?: unknown;
  anyOf?: Schema[];
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  default?: unknown;
};

interface Operation {
  tags?: string[];
  summary?: string;
  description?: string;
  security?: unknown[];
  parameters?: Array<{ name: string; in: string; required?: boolean; description?: string; schema?: Schema }>;
  requestBody?: { content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
}

export interface OpenApiDocument {
  info: { title: string; description?: string; version: string };
  tags?: Array<{ name: string; description?: string }>;
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

/** A schema in a few words: "string (email, at most 254)", "one of: user, admin", "User". */
function describe(schema: Schema | undefined): string {
  if (!schema) return 'any';
  if (schema.$ref) return schema.$ref.split('/').pop() ?? schema.$ref;
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return `one of: ${schema.enum.map((v) => String(v)).join(', ')}`;
  if (schema.anyOf) {
    if (schema.anyOf.every((s) => s.const !== undefined)) return `one of: ${schema.anyOf.map((s) => String(s.const)).join(', ')}`;
    return schema.anyOf.map(describe).join(' or ');
  }
  if (schema.type === 'array') return `list of ${describe(schema.items)}`;
  const limits = [
    schema.format,
    schema.minLength !== undefined && schema.minLength > 1 ? `at least ${schema.minLength}` : null,
    schema.maxLength !== undefined ? `at most ${schema.maxLength}` : null,
    schema.minimum !== undefined && schema.maximum !== undefined ? `${schema.minimum}–${schema.maximum}` : null,
    schema.default !== undefined ? `default ${String(schema.default)}` : null,
  ].filter(Boolean);
  const type = Array.isArray(schema.type) ? schema.type.join(' or ') : (schema.type ?? 'object');
  return limits.length > 0 ? `${type} (${limits.join(', ')})` : type;
}

function fieldsTable(caption: string, schema: Schema | undefined): SafeHtml | string {
  const properties = Object.entries(schema?.properties ?? {});
  if (properties.length === 0) return '';
  const required = new Set(schema?.required ?? []);
  return html`<table><caption>${caption}</caption><thead><tr><th scope="col">Field</th><th scope="col">Type</th><th scope="col">Required</th><th scope="col">About</th></tr></thead><tbody>${properties.map(
    ([name, field]) => html`<tr><td><code>${name}</code></td><td>${describe(field)}</td><td>${required.has(name) ? 'yes' : 'no'}</td><td>${field.description ?? ''}</td></tr>`,
  )}</tbody></table>`;
}

const slug = (method: string, path: string) => `${method}-${path}`.replace(/[^a-zA-Z0-9]+/g, '-').replace(/-+$/, '');

export function docsPage(doc: OpenApiDocument, scopes: Record<ApiScope, string>): string {
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })));
  const byTag = (doc.tags ?? []).map((tag) => ({ tag, ops: operations.filter((o) => o.op.tags?.includes(tag.name)) }));
  const schemas = Object.entries(doc.components?.schemas ?? {});
  const body = html`<div class="card wide api-docs">
<h1>${doc.info.title}</h1>
<p>${doc.info.description ?? ''}</p>
<nav aria-label="On this page"><ul>
  <li><a href="#start">Getting started</a></li>
  ${byTag.map(({ tag }) => html`<li><a href="#tag-${tag.name}">${tag.name}</a></li>`)}
  <li><a href="#shapes">Shapes</a></li>
  <li><a href="#problems">Errors</a></li>
</ul></nav>
<section aria-labelledby="start"><h2 id="start">Getting started</h2>
<ol>
  <li>An administrator creates a key under Settings → API Keys ("New API Key") or with <code>latchkey apikeys create --name "HR sync" --scopes users:read,users:write</code>. The key is shown once.</li>
  <li>Send it with every call: <code>Authorization: Bearer lk_…</code>. The self-service endpoints need no key.</li>
  <li>Bodies are JSON (<code>Content-Type: application/json</code>); fields Latchkey does not know are refused. Times are ISO 8601 in UTC.</li>
  <li>Lists come a page at a time: pass <code>next_cursor</code> back as <code>cursor</code> until it is null.</li>
  <li>POSTs that send mail take an <code>Idempotency-Key</code> header: a retry with the same key and body gets the first answer (marked <code>Idempotent-Replayed: true</code>) instead of a second mail. Answers are kept a day.</li>
  <li>Errors are <code>application/problem+json</code> (RFC 9457): a <code>type</code> that names the kind of error (listed below), a <code>detail</code> for a person, and <code>errors</code> listing every field that failed.</li>
  <li>Browsers may call the API only from the origins an administrator lists in <code>LATCHKEY_API_CORS_ORIGINS</code>. The machine-readable document is <a href="/api/openapi.json">/api/openapi.json</a> (OpenAPI 3.1).</li>
</ol>
<table><caption>Scopes</caption><thead><tr><th scope="col">Scope</th><th scope="col">Allows</th></tr></thead><tbody>
${Object.entries(scopes).map(([scope, about]) => html`<tr><td><code>${scope}</code></td><td>${about}</td></tr>`)}
</tbody></table>
</section>
${byTag.map(
  ({ tag, ops }) => html`<section aria-labelledby="tag-${tag.name}"><h2 id="tag-${tag.name}">${tag.name}</h2><p>${tag.description ?? ''}</p>
${ops.map(({ path, method, op }) => {
  const query = op.parameters?.filter((p) => p.in === 'query') ?? [];
  const params = op.parameters?.filter((p) => p.in === 'path') ?? [];
  const headers = op.parameters?.filter((p) => p.in === 'header') ?? [];
  const bodySchema = op.requestBody?.content?.['application/json']?.schema;
  const paramRows = [...params, ...query, ...headers];
  return html`<article aria-labelledby="${slug(method, path)}"><h3 id="${slug(method, path)}"><code>${method.toUpperCase()} ${path}</code> — ${op.summary ?? ''}</h3>
<p>${op.description ?? ''}</p>
<p>${op.security && op.security.length > 0 ? 'Needs an API key.' : 'Needs no key.'}</p>
${paramRows.length > 0
  ? html`<table><caption>Parameters of ${method.toUpperCase()} ${path}</caption><thead><tr><th scope="col">Name</th><th scope="col">In</th><th scope="col">Type</th><th scope="col">Required</th><th scope="col">About</th></tr></thead><tbody>${paramRows.map(
      (p) => html`<tr><td><code>${p.name}</code></td><td>${p.in}</td><td>${describe(p.schema)}</td><td>${p.required ? 'yes' : 'no'}</td><td>${p.description ?? p.schema?.description ?? ''}</td></tr>`,
    )}</tbody></table>`
  : ''}
${fieldsTable(`Body of ${method.toUpperCase()} ${path}`, bodySchema)}
<table><caption>Answers of ${method.toUpperCase()} ${path}</caption><thead><tr><th scope="col">Status</th><th scope="col">Body</th></tr></thead><tbody>${Object.entries(op.responses ?? {}).map(
    ([status, response]) => html`<tr><td>${status}</td><td>${describe(Object.values(response.content ?? {})[0]?.schema) === 'any' ? response.description ?? '' : describe(Object.values(response.content ?? {})[0]?.schema)}</td></tr>`,
  )}</tbody></table>
</article>`;
})}
</section>`,
)}
<section aria-labelledby="shapes"><h2 id="shapes">Shapes</h2>
${schemas.map(([name, schema]) => html`<h3 id="shape-${name}">${name}</h3>${fieldsTable(`Fields of ${name}`, schema)}`)}
</section>
<section aria-labelledby="problems"><h2 id="problems">Errors</h2>
<table><caption>Kinds of error</caption><thead><tr><th scope="col">Type (after #)</th><th scope="col">Status</th><th scope="col">Means</th></tr></thead><tbody>
${Object.entries(PROBLEMS).map(([kind, p]) => html`<tr id="problem-${kind}"><td><code>problem-${kind}</code></td><td>${p.status}</td><td>${p.title}</td></tr>`)}
</tbody></table>
</section>
</div>`;
  return page({ title: 'API', body });
}

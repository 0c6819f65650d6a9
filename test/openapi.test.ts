// The OpenAPI document is the truth: it validates with a maintained parser, and every operation, called with requests
// made from the document alone (valid and invalid), answers with a documented status and a body that fits its schema.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dereference, validate } from '@readme/openapi-parser';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import type { OpenAPIV3_1 } from 'openapi-types';
import { startTestApp, type TestApp } from './support/app.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { API_SCOPES } from '../src/modules/apikeys/apikeys.service.ts';

interface Schema {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  anyOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  format?: string;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
}

let lk: TestApp;
let key: string;
let userId: string;
let doc: OpenAPIV3_1.Document;
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats.default(ajv);

before(async () => {
  lk = await startTestApp({ startWorker: false });
  key = (await lk.services.apiKeys.create({ name: 'Document check', scopes: [...API_SCOPES], expiresAt: null }, COMMAND_LINE)).secret;
  userId = (await lk.createUser({ email: 'documented@example.com', name: 'Doc Umented' })).id;
  const response = await fetch(`${lk.url}/api/openapi.json`);
  assert.equal(response.status, 200);
  doc = (await response.json()) as OpenAPIV3_1.Document;
});
after(async () => {
  await lk.close();
});

let counter = 0;

/** A value that fits the schema, made from the schema alone. */
function example(schema: Schema | undefined, name: string): unknown {
  if (!schema) return 'x';
  if (schema.const !== undefined) return schema.const;
  if (schema.default !== undefined) return schema.default;
  if (schema.enum) return schema.enum[0];
  if (schema.anyOf) return example(schema.anyOf.find((s) => s.type !== 'null') ?? schema.anyOf[0], name);
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  if (type === 'object') {
    const out: Record<string, unknown> = {};
    for (const [field, sub] of Object.entries(schema.properties ?? {})) {
      if ((schema.required ?? []).includes(field)) out[field] = example(sub as Schema, field);
    }
    return out;
  }
  if (type === 'array') return [example(schema.items as Schema, name)];
  if (type === 'integer' || type === 'number') return Math.max(schema.minimum ?? 1, Math.min(schema.maximum ?? 10, 10));
  if (type === 'boolean') return true;
  if (schema.format === 'email') return `generated${++counter}@example.com`;
  if (schema.format === 'date-time') return new Date().toISOString();
  if (/password/.test(name)) return 'Generated-Harbor-77';
  return `Generated ${name} ${++counter}`.slice(0, schema.maxLength ?? 100);
}

interface Call {
  method: string;
  path: string;
  query: URLSearchParams;
  body?: unknown;
}

function requestFor(path: string, method: string, op: OpenAPIV3_1.OperationObject): Call {
  const query = new URLSearchParams();
  let url = path;
  for (const parameter of (op.parameters ?? []) as OpenAPIV3_1.ParameterObject[]) {
    if (parameter.in === 'path') url = url.replace(`{${parameter.name}}`, parameter.name === 'id' ? userId : String(example(parameter.schema as Schema, parameter.name)));
    if (parameter.in === 'query' && parameter.required) query.set(parameter.name, String(example(parameter.schema as Schema, parameter.name)));
  }
  const bodySchema = (op.requestBody as OpenAPIV3_1.RequestBodyObject | undefined)?.content?.['application/json']?.schema as Schema | undefined;
  return { method: method.toUpperCase(), path: url, query, body: bodySchema ? example(bodySchema, 'body') : undefined };
}

async function send(call: Call) {
  const qs = call.query.toString();
  const response = await fetch(`${lk.url}${call.path}${qs ? `?${qs}` : ''}`, {
    method: call.method,
    headers: { authorization: `Bearer ${key}`, ...(call.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: call.body !== undefined ? JSON.stringify(call.body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, type: response.headers.get('content-type') ?? '', json: text ? (JSON.parse(text) as unknown) : null, text };
}

/** The answer is documented for its status and its body fits that schema. */
function checkAnswer(op: OpenAPIV3_1.OperationObject, label: string, answer: Awaited<ReturnType<typeof send>>): void {
  const documented = op.responses?.[String(answer.status)] as OpenAPIV3_1.ResponseObject | undefined;
  assert.ok(documented, `${label}: ${answer.status} is a documented answer (${Object.keys(op.responses ?? {}).join(', ')}); body ${answer.text.slice(0, 300)}`);
  const media = Object.values(documented.content ?? {})[0];
  if (!media?.schema) return;
  const check = ajv.compile(media.schema as object);
  assert.ok(check(answer.json), `${label}: the ${answer.status} body fits its schema: ${ajv.errorsText(check.errors)}; body ${answer.text.slice(0, 300)}`);
}

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1 according to a maintained parser', async () => {
    await validate(structuredClone(doc) as never);
    assert.equal(doc.openapi, '3.1.0');
  });

  it('every operation, called as the document describes it, answers as the document says — valid and invalid requests', async () => {
    const resolved = (await dereference(structuredClone(doc) as never)) as unknown as OpenAPIV3_1.Document;
    let operations = 0;
    // Archiving comes after the rest, so the user is still there for them.
    const entries = Object.entries(resolved.paths ?? {}).flatMap(([path, item]) =>
      Object.entries(item as Record<string, OpenAPIV3_1.OperationObject>).map(([method, op]) => ({ path, method, op })),
    );
    entries.sort((a, b) => Number(a.path.endsWith('/archive')) - Number(b.path.endsWith('/archive')));
    for (const { path, method, op } of entries) {
      operations++;
      const valid = requestFor(path, method, op);
      const answer = await send(valid);
      checkAnswer(op, `${method.toUpperCase()} ${path}`, answer);
      assert.ok(answer.status < 500, `${method.toUpperCase()} ${path} did not fail on the server`);

      // The same call with a field the document does not have: refused, and the refusal is documented too.
      const bodySchema = (op.requestBody as OpenAPIV3_1.RequestBodyObject | undefined)?.content?.['application/json']?.schema;
      const invalid: Call = bodySchema
        ? { ...valid, body: { ...(valid.body as object), notInTheDocument: 1 } }
        : { ...valid, query: new URLSearchParams([...valid.query, ['notInTheDocument', '1']]) };
      const refused = await send(invalid);
      assert.equal(refused.status, 400, `${method.toUpperCase()} ${path} refuses an undocumented field: ${refused.text.slice(0, 200)}`);
      assert.match(refused.type, /^application\/problem\+json/);
      checkAnswer(op, `${method.toUpperCase()} ${path} (invalid)`, refused);
    }
    assert.ok(operations >= 14, `${operations} operations`);
  });
});

/**
 * docs/openapi.yaml as the tests use it: the operation a request reached, and whether a real
 * response is one that operation describes (status, required headers, media type, and the JSON
 * body against its schema with ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses it).
 */
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import type { RawResponse } from './raw-http';

export const SPEC_FILE = resolve(__dirname, '../../docs/openapi.yaml');
export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'head', 'patch', 'options', 'trace'] as const;

type Json = Record<string, any>;

export const spec: Json = parse(readFileSync(SPEC_FILE, 'utf8'));

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
// the document's own keys and OpenAPI's schema keywords, known to ajv so that strict mode still
// catches a misspelt JSON Schema keyword in our schemas
ajv.addVocabulary(['openapi', 'info', 'servers', 'tags', 'security', 'paths', 'components', 'webhooks', 'jsonSchemaDialect', 'example']);
ajv.addSchema(spec, 'openapi.yaml');

const pointer = (parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/** An object of the document with its `$ref` followed (responses, parameters, headers). */
function deref(node: Json): Json {
  let n = node;
  while (typeof n.$ref === 'string') {
    n = n.$ref
      .replace(/^#\//, '')
      .split('/')
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce((o: Json, k) => o[k], spec);
  }
  return n;
}

export interface Operation {
  method: string;
  template: string;
  op: Json;
}

// a template as a pattern of the raw request path: a parameter is one or more characters, slashes
// included (an artifact path may be sent with literal slashes)
const templates = Object.keys(spec.paths as Json)
  .map((template) => ({
    template,
    regexp: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '(.+)')}$`),
    // the most literal template first: …/uploads/{uploadId}/commit before …/{key}
    literal: template.replace(/\{[^}]+\}/g, '').length,
  }))
  .sort((a, b) => b.literal - a.literal);

/** The operation a request reaches: HEAD falls back to GET, as the router answers it. */
export function operationFor(method: string, rawPath: string): Operation | undefined {
  const path = rawPath.split('?')[0];
  const m = method.toLowerCase();
  for (const t of templates) {
    if (!t.regexp.test(path)) continue;
    const item = spec.paths[t.template] as Json;
    const found = item[m] ?? (m === 'head' ? item.get : undefined);
    if (found) return { method: item[m] ? m : 'get', template: t.template, op: found };
  }
  return undefined;
}

const validators = new Map<string, ValidateFunction>();
export function validatorAt(parts: string[]): ValidateFunction {
  const id = `openapi.yaml#/${pointer(parts)}`;
  let v = validators.get(id);
  if (!v) {
    v = ajv.getSchema(id);
    if (!v) throw new Error(`docs/openapi.yaml has no schema at ${id}`);
    validators.set(id, v);
  }
  return v;
}

const mediaType = (h: string | undefined) => (h ?? '').split(';')[0].trim().toLowerCase();
const covers = (range: string, type: string) => range === '*/*' || range === type || (range.endsWith('/*') && type.startsWith(range.slice(0, -1)));

/**
 * What is wrong with a response to `method rawPath`, measured against docs/openapi.yaml; empty
 * when nothing is. A request that reaches no operation (a path or method the API host does not
 * serve) must be answered with a 4xx in the common error shape.
 */
export function specProblems(res: Pick<RawResponse, 'status' | 'headers' | 'text'>, method: string, rawPath: string): string[] {
  const found = operationFor(method, rawPath);
  if (!found) {
    if (res.status < 400 || res.status > 499) return [`no operation describes ${method} ${rawPath}, yet it answered ${res.status}`];
    return jsonProblems(res, ['components', 'schemas', 'Error']);
  }
  const where = `${found.method.toUpperCase()} ${found.template} ${res.status}`;
  const responses = found.op.responses as Json;
  const described = responses[String(res.status)];
  if (!described) return [`${where}: the status is not described (described: ${Object.keys(responses).join(', ')})`];
  const response = deref(described);
  const problems: string[] = [];
  for (const [name, header] of Object.entries((response.headers ?? {}) as Json)) {
    if (deref(header).required && res.headers[name.toLowerCase()] === undefined) problems.push(`${where}: no ${name} header`);
  }
  const bodyless = method.toUpperCase() === 'HEAD' || res.status === 204 || res.status === 304;
  if (bodyless) {
    if (res.text !== '') problems.push(`${where}: a body where none may be`);
    return problems;
  }
  const content = response.content as Json | undefined;
  if (!content) {
    // a redirect may carry a short note; anything else described without content sends none
    if (res.text !== '' && !(res.status >= 300 && res.status < 400)) problems.push(`${where}: a body, but none is described`);
    return problems;
  }
  const type = mediaType(res.headers['content-type']);
  const range = Object.keys(content).find((r) => covers(r, type));
  if (!range) return [...problems, `${where}: Content-Type ${type || '(none)'} is not one of ${Object.keys(content).join(', ')}`];
  if (type === 'application/json') {
    // the schema's place, named by where the response is written ($ref or inline)
    const base =
      typeof described.$ref === 'string'
        ? described.$ref.replace(/^#\//, '').split('/')
        : ['paths', found.template, found.method, 'responses', String(res.status)];
    problems.push(...jsonProblems(res, [...base, 'content', range, 'schema']).map((p) => `${where}: ${p}`));
  }
  return problems;
}

function jsonProblems(res: Pick<RawResponse, 'text'>, schemaAt: string[]): string[] {
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    return [`the body is not JSON: ${res.text.slice(0, 200)}`];
  }
  const validate = validatorAt(schemaAt);
  if (validate(body)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message} (${e.schemaPath}): ${JSON.stringify(body).slice(0, 300)}`);
}

export function expectMatchesSpec(res: Pick<RawResponse, 'status' | 'headers' | 'text'>, method: string, rawPath: string): void {
  const problems = specProblems(res, method, rawPath);
  if (problems.length > 0) {
    throw new Error(`the answer to ${method} ${rawPath} is not what docs/openapi.yaml describes:\n  ${problems.join('\n  ')}`);
  }
}

type RawFn = (
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string | number>; body?: Buffer | string },
) => Promise<RawResponse>;

/**
 * `raw` that also holds every answer from the API host to docs/openapi.yaml, so a suite's own
 * requests, with their real bodies and errors, prove the description (artifact origins are
 * browsed, not part of the API, and are left alone).
 */
export function matchingSpec(raw: RawFn, apiHost = 'localhost:8080'): RawFn {
  return async (port, options) => {
    const res = await raw(port, options);
    const host = options.headers?.host ?? options.headers?.Host;
    if (host === apiHost) expectMatchesSpec(res, options.method ?? 'GET', options.path);
    return res;
  };
}

/**
 * A real app on a real driver, listening on loopback, for the HTTP properties: requests go out
 * byte for byte as generated (test/support/raw-http.ts), so no client normalises a payload away.
 */
import { makeTestApp, type TestApp } from '../support/app';
import type { DriverName } from '../support/drivers';
import { listen, raw, type Listening, type RawResponse } from '../support/raw-http';

export const API = 'localhost:8080';

export interface FuzzApp {
  t: TestApp;
  port: number;
  upload(project: string, build: string, path: string, body: string | Buffer): Promise<void>;
  get(host: string, path: string, headers?: Record<string, string>, method?: string): Promise<RawResponse>;
  close(): Promise<void>;
}

export async function startApp(driver: DriverName, env: Record<string, string> = {}): Promise<FuzzApp> {
  const t = await makeTestApp(driver, env);
  let srv: Listening;
  try {
    srv = await listen(t.callback);
  } catch (err) {
    await t.cleanup();
    throw err;
  }
  return {
    t,
    port: srv.port,
    async upload(project, build, path, body) {
      const token = await t.token({ project, build });
      const res = await raw(srv.port, {
        method: 'PUT',
        path: `/api/v1/projects/${encodeURIComponent(project)}/builds/${build}/artifacts/${path.split('/').map(encodeURIComponent).join('/')}`,
        headers: { host: API, authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body) },
        body,
      });
      if (res.status !== 201) throw new Error(`upload of ${project} ${build} ${path} answered ${res.status}: ${res.text}`);
    },
    get: (host, path, headers = {}, method = 'GET') => raw(srv.port, { method, path, headers: { host, ...headers } }),
    async close() {
      await srv.close();
      await t.cleanup();
    },
  };
}

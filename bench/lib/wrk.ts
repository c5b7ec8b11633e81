/**
 * wrk (Debian's package) as the load generator: C and one event loop per thread, so on two cores
 * it takes less of the machine than the server it measures (autocannon, in Node, needs a core of
 * its own to reach nginx's rate). A Lua `done` hook prints the summary as one JSON line.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface WrkResult {
  requests: number;
  seconds: number;
  bytes: number;
  /** Non-2xx/3xx answers, socket errors and timeouts. */
  errors: number;
  rps: number;
  /** Bytes per second, headers included. */
  throughput: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
}

const REPORTER = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;

export interface WrkOptions {
  url: string;
  /** Host header, when it is not the URL's (the gateway's artifact origins). */
  host?: string;
  headers?: Record<string, string>;
  connections: number;
  seconds: number;
  threads?: number;
  /** Where the Lua reporter is written. */
  dir: string;
}

export function wrk(o: WrkOptions): Promise<WrkResult> {
  const script = join(o.dir, 'wrk-report.lua');
  writeFileSync(script, REPORTER);
  const args = ['-t', String(o.threads ?? 1), '-c', String(o.connections), '-d', `${o.seconds}s`, '--timeout', '10s', '-s', script];
  if (o.host) args.push('-H', `Host: ${o.host}`);
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(o.url);
  return new Promise((resolve, reject) => {
    execFile('wrk', args, { timeout: (o.seconds + 30) * 1000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`wrk failed: ${err.message}\n${stdout}${stderr}`));
      const line = stdout.split('\n').find((l) => l.startsWith('WRK_JSON '));
      if (!line) return reject(new Error(`wrk printed no summary:\n${stdout}${stderr}`));
      const r = JSON.parse(line.slice('WRK_JSON '.length)) as Record<string, number>;
      const seconds = r.duration_us / 1e6;
      resolve({
        requests: r.requests,
        seconds,
        bytes: r.bytes,
        errors: r.errors,
        rps: r.requests / seconds,
        throughput: r.bytes / seconds,
        latencyMs: { p50: r.p50 / 1000, p90: r.p90 / 1000, p99: r.p99 / 1000, max: r.max / 1000 },
      });
    });
  });
}

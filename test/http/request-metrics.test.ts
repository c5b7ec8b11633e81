import { Counter, Histogram, Registry } from 'prom-client';
import { HTTP_DURATION_BUCKETS } from '../../src/http/metrics';
import { RequestMetrics } from '../../src/http/request-metrics';

const REQUESTS = { name: 'agw_http_requests_total', help: 'HTTP requests by route class, method and status' };
const DURATION = { name: 'agw_http_request_duration_seconds', help: 'Time to response headers and body end, by route class' };

/** What prom-client's own Counter and Histogram show for the same requests. */
function reference(requests: Array<[string, string, number, number]>): Registry {
  const registry = new Registry();
  const counter = new Counter({ ...REQUESTS, labelNames: ['route', 'method', 'status'], registers: [registry] });
  const histogram = new Histogram({ ...DURATION, labelNames: ['route', 'method'], buckets: HTTP_DURATION_BUCKETS, registers: [registry] });
  for (const [route, method, status, seconds] of requests) {
    counter.inc({ route, method, status });
    histogram.observe({ route, method }, seconds);
  }
  return registry;
}

const sorted = (text: string) => text.split('\n').filter(Boolean).sort();

describe('the request metrics', () => {
  // every bucket edge, values on and beside a bound, several label sets and statuses
  const requests: Array<[string, string, number, number]> = [
    ...HTTP_DURATION_BUCKETS.flatMap((b, i): Array<[string, string, number, number]> => [
      ['artifact', 'GET', 302, b],
      ['artifact', 'HEAD', 200, b * 1.5],
      ['api', i % 2 ? 'PUT' : 'GET', i % 3 ? 201 : 404, b / 3],
    ]),
    ['artifact', 'GET', 499, 120],
    ['health', 'GET', 200, 0],
  ];

  it('show in /metrics exactly what prom-client Counter and Histogram show', async () => {
    const registry = new Registry();
    const metrics = new RequestMetrics(registry, { requests: REQUESTS, duration: { ...DURATION, buckets: HTTP_DURATION_BUCKETS } });
    for (const [route, method, status, seconds] of requests) metrics.record(route, method, status, seconds);
    expect(sorted(await registry.metrics())).toEqual(sorted(await reference(requests).metrics()));
  });

  it('keep counting across scrapes', async () => {
    const registry = new Registry();
    const metrics = new RequestMetrics(registry, { requests: REQUESTS, duration: { ...DURATION, buckets: HTTP_DURATION_BUCKETS } });
    const [first, second] = [requests.slice(0, 10), requests.slice(10)];
    for (const [route, method, status, seconds] of first) metrics.record(route, method, status, seconds);
    expect(sorted(await registry.metrics())).toEqual(sorted(await reference(first).metrics()));
    for (const [route, method, status, seconds] of second) metrics.record(route, method, status, seconds);
    expect(sorted(await registry.metrics())).toEqual(sorted(await reference(requests).metrics()));
  });

  it('answer the JSON form with the same values', async () => {
    const registry = new Registry();
    const metrics = new RequestMetrics(registry, { requests: REQUESTS, duration: { ...DURATION, buckets: HTTP_DURATION_BUCKETS } });
    for (const [route, method, status, seconds] of requests) metrics.record(route, method, status, seconds);
    const ours = (await registry.getMetricsAsJSON()).find((m) => m.name === DURATION.name);
    const theirs = (await reference(requests).getMetricsAsJSON()).find((m) => m.name === DURATION.name);
    expect(ours?.values).toEqual(expect.arrayContaining(theirs!.values));
    expect(ours?.values).toHaveLength(theirs!.values.length);
  });
});

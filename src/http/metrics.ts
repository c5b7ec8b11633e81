/**
 * Prometheus metrics. One Registry per app (not prom-client's global one), so tests and several
 * apps in one process never collide.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { RequestMetrics } from './request-metrics';

export interface Metrics {
  registry: Registry;
  /** agw_http_requests_total and agw_http_request_duration_seconds, one record() a request. */
  http: RequestMetrics;
  storageDuration: Histogram<'driver' | 'operation' | 'outcome'>;
  storageErrors: Counter<'driver' | 'operation' | 'code'>;
  /** Storage read bodies handed out and not yet closed: one that only climbs is a leak. */
  storageReadsOpen: Gauge<'driver'>;
  /** Build tools' cache protocols (src/protocols): look-ups by outcome (hit, miss) and saves (stored, duplicate). */
  protocolRequests: Counter<'protocol' | 'result'>;
  protocolBytes: Counter<'protocol' | 'direction'>;
}

export const HTTP_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60];

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  return {
    registry,
    http: new RequestMetrics(registry, {
      requests: { name: 'agw_http_requests_total', help: 'HTTP requests by route class, method and status' },
      duration: { name: 'agw_http_request_duration_seconds', help: 'Time to response headers and body end, by route class', buckets: HTTP_DURATION_BUCKETS },
    }),
    storageDuration: new Histogram({
      name: 'agw_storage_operation_duration_seconds',
      help: 'Storage operation latency (to first byte for reads), by driver, operation and outcome',
      labelNames: ['driver', 'operation', 'outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
      registers: [registry],
    }),
    storageErrors: new Counter({
      name: 'agw_storage_errors_total',
      help: 'Storage operations that failed (not counting not-found), by error code',
      labelNames: ['driver', 'operation', 'code'],
      registers: [registry],
    }),
    storageReadsOpen: new Gauge({
      name: 'agw_storage_reads_open',
      help: 'Storage read streams open now (handed out, not yet closed), by driver',
      labelNames: ['driver'],
      registers: [registry],
    }),
    protocolRequests: new Counter({
      name: 'agw_protocol_cache_requests_total',
      help: "Build tools' cache protocol look-ups (hit, miss) and saves (stored, duplicate), by protocol",
      labelNames: ['protocol', 'result'],
      registers: [registry],
    }),
    protocolBytes: new Counter({
      name: 'agw_protocol_cache_bytes_total',
      help: "Bytes served (down) and stored (up) through build tools' cache protocols, by protocol",
      labelNames: ['protocol', 'direction'],
      registers: [registry],
    }),
  };
}

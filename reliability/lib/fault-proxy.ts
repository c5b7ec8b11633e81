/**
 * A TCP proxy (node:net) between the gateway and S3 that injects faults, set at run time:
 *  - latencyMs: every chunk, either way, is held this long (order is kept);
 *  - resetRate: this share of requests has its connection reset (RST, both sides) a random
 *    0-300 ms after it started, wherever it is by then;
 *  - truncateRate: for this share of requests only a random 0-4 KiB more of what S3 answers is
 *    forwarded, then both sides are closed: a response cut in its headers or body, often after
 *    S3 has already done what the request asked (the case retries have to get right).
 * With everything at 0 it is a plain pipe. Counts what it did, for the report.
 */
import net from 'node:net';

export interface Faults {
  latencyMs: number;
  resetRate: number;
  truncateRate: number;
}

export interface FaultProxy {
  port: number;
  set(f: Partial<Faults>): void;
  counts: { connections: number; resets: number; truncations: number };
  /** Sockets it holds open right now (both sides). */
  open(): number;
  stop(): Promise<void>;
}

export async function startFaultProxy(upstreamPort: number): Promise<FaultProxy> {
  const faults: Faults = { latencyMs: 0, resetRate: 0, truncateRate: 0 };
  const counts = { connections: 0, resets: 0, truncations: 0 };
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };

  const server = net.createServer((client) => {
    counts.connections++;
    track(client);
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    track(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const kill = (reset: boolean) => {
      for (const s of [client, upstream]) {
        if (s.destroyed) continue;
        if (reset) s.resetAndDestroy();
        else s.destroy();
      }
    };
    client.on('error', () => kill(false));
    upstream.on('error', () => kill(true));
    client.on('close', () => kill(false));
    upstream.on('close', () => kill(false));

    // Faults are decided per request, not per connection: the gateway keeps its S3 connections
    // alive, so a connection carries many requests. A request starts when the gateway sends
    // after S3 has answered (or on a fresh connection).
    let budget = Infinity;
    let answered = true;
    let resetTimer: NodeJS.Timeout | undefined;
    client.once('close', () => clearTimeout(resetTimer));
    const onRequestStart = () => {
      if (resetTimer === undefined && Math.random() < faults.resetRate) {
        resetTimer = setTimeout(() => {
          counts.resets++;
          kill(true);
        }, Math.random() * 300);
      } else if (budget === Infinity && Math.random() < faults.truncateRate) {
        budget = Math.floor(Math.random() * 4096);
      }
    };
    client.on('data', () => {
      if (answered) onRequestStart();
      answered = false;
    });
    upstream.on('data', () => (answered = true));

    // one queue per direction, so latency never reorders bytes
    const pipe = (from: net.Socket, to: net.Socket, limit: boolean) => {
      let tail = Promise.resolve();
      let queued = 0;
      from.on('data', (chunk: Buffer) => {
        // each chunk leaves `latencyMs` after it arrived: a delay, not a bandwidth limit
        const due = Date.now() + faults.latencyMs;
        queued += chunk.length;
        if (queued > 4 << 20) from.pause();
        tail = tail.then(async () => {
          const wait = due - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          queued -= chunk.length;
          if (queued <= 4 << 20 && from.isPaused()) from.resume();
          if (to.destroyed) return;
          if (limit && chunk.length >= budget) {
            if (budget > 0) to.write(chunk.subarray(0, budget));
            budget = 0;
            counts.truncations++;
            to.end();
            from.destroy();
            return;
          }
          if (limit && budget !== Infinity) budget -= chunk.length;
          to.write(chunk);
        });
      });
      from.on('end', () => void tail.then(() => to.end()));
    };
    pipe(client, upstream, false);
    pipe(upstream, client, true);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    counts,
    set(f) {
      Object.assign(faults, f);
    },
    open: () => sockets.size,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

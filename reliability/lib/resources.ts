/** What /proc says about a process: open descriptors (and how many are sockets), resident memory. */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { tcpTable } from './gw-proc-stats';
import { sleep } from './http';

export interface Descriptors {
  fds: number;
  sockets: number;
}

export function descriptors(pid: number): Descriptors {
  let fds = 0;
  let sockets = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed while we looked
    }
    fds++;
    if (target.startsWith('socket:')) sockets++;
  }
  return { fds, sockets };
}

/**
 * Descriptors with the process's TCP connections told apart: `clients` are connections accepted
 * on `port` (the load itself: one per request in flight), `rest` is everything else (files, the
 * listening socket, pooled connections to storage), where a leak would show.
 */
export function descriptorsByKind(pid: number, port: number): Descriptors & { clients: number; rest: number } {
  const local = new Map<string, number>();
  for (const [inode, e] of tcpTable(pid)) local.set(inode, e.localPort);
  let fds = 0;
  let sockets = 0;
  let clients = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    fds++;
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (!m) continue;
    sockets++;
    // an accepted connection has the listening port as its local port (so has the listener: -1 below)
    if (local.get(m[1]) === port) clients++;
  }
  clients = Math.max(0, clients - 1);
  return { fds, sockets, clients, rest: fds - clients };
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) * 1024;
}

/**
 * Waits (bounded) until the process holds no more descriptors than `baseline`: sockets to
 * clients close at once, pooled keep-alive sockets to S3 are closed by the server's idle
 * timeout. Resolves with the last count seen and how long it took to get there.
 */
export async function settleTo(pid: number, baseline: Descriptors, maxMs: number): Promise<{ after: Descriptors; ms: number; settled: boolean }> {
  const start = Date.now();
  let after = descriptors(pid);
  while (after.fds > baseline.fds && Date.now() - start < maxMs) {
    await sleep(500);
    after = descriptors(pid);
  }
  return { after, ms: Date.now() - start, settled: after.fds <= baseline.fds };
}

export const fdText = (d: Descriptors) => `${d.fds} fds (${d.sockets} sockets)`;

/** What /proc says about a process: open descriptors (and how many are sockets), resident memory. */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
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

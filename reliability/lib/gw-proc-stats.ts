/**
 * What a process holds, from /proc: its open file descriptors, its TCP sockets sorted by what
 * they connect (clients on the gateway's port, the listener, outbound connections such as the
 * s3 driver's keep-alive pool to storage), and its resident memory.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface ProcStats {
  /** Entries in /proc/<pid>/fd. */
  fds: number;
  /** TCP connections whose local port is the gateway's: its clients. */
  clientSockets: number;
  /** TCP sockets listening. */
  listening: number;
  /** Other TCP connections: the gateway's own outbound ones (storage). */
  outbound: number;
  /**
   * Outbound connections with bytes received and not read: an idle keep-alive connection has
   * none, a response abandoned without being read or destroyed keeps its bytes there.
   */
  outboundUnread: number;
  /** Sockets that are not TCP (unix, netlink…) or already gone from the TCP table. */
  otherSockets: number;
  /** File descriptors that are not sockets (files, pipes, eventfd, epoll…). */
  nonSocketFds: number;
  rssBytes: number;
}

interface TcpEntry {
  localPort: number;
  state: string;
  rxQueue: number;
}

const LISTEN = '0A';

/** The process's TCP sockets by inode: local port, state, bytes waiting to be read. */
export function tcpTable(pid: number): Map<string, TcpEntry> {
  const table = new Map<string, TcpEntry>();
  for (const file of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const localPort = parseInt(f[1].split(':')[1], 16);
      table.set(f[9], { localPort, state: f[3], rxQueue: parseInt(f[4].split(':')[1], 16) });
    }
  }
  return table;
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) * 1024;
}

/** One sample; throws when the process is gone. */
export function procStats(pid: number, port: number): ProcStats {
  const stats: ProcStats = { fds: 0, clientSockets: 0, listening: 0, outbound: 0, outboundUnread: 0, otherSockets: 0, nonSocketFds: 0, rssBytes: 0 };
  const table = tcpTable(pid);
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let link: string;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed while we looked
    }
    stats.fds++;
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (!m) {
      stats.nonSocketFds++;
      continue;
    }
    const tcp = table.get(m[1]);
    if (!tcp) stats.otherSockets++;
    else if (tcp.state === LISTEN) stats.listening++;
    else if (tcp.localPort === port) stats.clientSockets++;
    else {
      stats.outbound++;
      if (tcp.rxQueue > 0) stats.outboundUnread++;
    }
  }
  stats.rssBytes = rssBytes(pid);
  return stats;
}

export const MiB = 1024 * 1024;

export function describeStats(s: ProcStats): string {
  return `${s.fds} fds (${s.clientSockets} client sockets, ${s.outbound} outbound, ${s.nonSocketFds} non-socket), ${(s.rssBytes / MiB).toFixed(0)} MiB RSS`;
}

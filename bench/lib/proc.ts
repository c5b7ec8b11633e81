/** What /proc says about a process: resident memory now and its peak (high-water mark). */
import { readFileSync } from 'node:fs';

export function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Samples RSS every `ms` until stopped; resolves with the highest value seen. */
export function sampleRss(pid: number, ms = 100): { stop(): number } {
  let max = 0;
  const timer = setInterval(() => {
    try {
      max = Math.max(max, memory(pid).rss);
    } catch {
      // the process exited; stop() reports what was seen
    }
  }, ms);
  return {
    stop() {
      clearInterval(timer);
      return max;
    },
  };
}

/** CPU seconds (user, system) a process has used so far. */
export function cpuSeconds(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name; in clock ticks (100/s)
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
}

/** The children of a process (nginx's workers). */
export function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

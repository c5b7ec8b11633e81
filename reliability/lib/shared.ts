/**
 * What the runner's own cases share: one radosgw for the whole campaign (started when a case
 * first needs it), the signing secret, and the list of things to stop at the end. Cases by other
 * authors get only the CaseContext of types.ts and start what they need themselves.
 */
import type { CaseContext } from './types';
import { startGateway, startRadosgw, type Driver, type Gateway, type Radosgw } from './services';

export interface Shared {
  dir: string;
  secret: string;
  soakSeconds: number;
  radosgw(): Promise<Radosgw>;
  /** Starts a gateway on `driver` with buckets (or a data dir) of its own; stopped at the end at the latest. */
  gateway(driver: Driver, name: string, options?: { s3Endpoint?: string; publicProjects?: string[] }): Promise<Gateway>;
  /** Registers a stop() for the end of the run (also after a failure or a signal). */
  onStop(stop: () => Promise<void>): void;
}

export function createShared(dir: string, secret: string, soakSeconds: number, onStop: (stop: () => Promise<void>) => void, ctx: () => CaseContext): Shared {
  let rgw: Promise<Radosgw> | undefined;
  let n = 0;
  const shared: Shared = {
    dir,
    secret,
    soakSeconds,
    onStop,
    radosgw() {
      rgw ??= (async () => {
        ctx().log('starting radosgw (memstore) on loopback');
        const s = await startRadosgw(dir);
        onStop(() => s.stop());
        return s;
      })();
      return rgw;
    },
    async gateway(driver, name, options = {}) {
      const s3 = driver === 's3' ? await shared.radosgw() : undefined;
      const gw = await startGateway({
        driver,
        dir,
        secret,
        s3,
        s3Endpoint: options.s3Endpoint,
        bucketPrefix: `rel-${name}-${++n}`.toLowerCase().replace(/[^a-z0-9-]/g, '-'),
        publicProjects: options.publicProjects ?? [],
        name,
      });
      onStop(() => gw.stop());
      return gw;
    },
  };
  return shared;
}

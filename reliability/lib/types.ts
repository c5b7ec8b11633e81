/**
 * The shape every case of the reliability campaign reports in. A case runs against real parts
 * (radosgw, the built gateway, both storage drivers where it applies), measures its outcome,
 * and says per row whether nothing was lost.
 */
export interface CaseRow {
  /** The case and its variant, e.g. "radosgw stopped mid-upload (s3)". */
  case: string;
  /** What was measured, as printed in the table (e.g. "0 corrupt of 412 uploads"). */
  measured: string;
  /** The same-run baseline it is judged against (e.g. "idle: 23 fds, 71 MiB"). */
  baseline: string;
  /** pass: nothing lost, nothing partial, resources back to baseline. */
  outcome: 'pass' | 'fail';
  /** Numbers behind the row, for the JSON results. */
  figures?: Record<string, number | string>;
  /** Why a row failed, or what to know about it. */
  detail?: string;
}

export interface CaseContext {
  /** A temp dir of the campaign's own, removed at the end. */
  dir: string;
  /** Scale: 'full' for `npm run reliability`, 'quick' for the parts kept in `npm test`. */
  scale: 'full' | 'quick';
  log(message: string): void;
  /**
   * An S3 server the cases may use (radosgw the campaign started). Optional: cases that need one
   * fall back to S3_ENDPOINT and credentials in the environment, else start their own.
   */
  s3?: { endpoint: string; accessKeyId: string; secretAccessKey: string; region?: string };
}

export interface ReliabilityCase {
  name: string;
  run(ctx: CaseContext): Promise<CaseRow[]>;
}

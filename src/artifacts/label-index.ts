/**
 * Which project (and build) each origin label serves: one create-only object per label in the
 * artifacts bucket (layout.labelKey), written before a label's first file. Labels never move, so
 * a label once resolved is kept for the life of the process; a label that resolves to nothing is
 * remembered briefly, so that requests for random labels do not each cost a storage read.
 */
import { StorageError } from '../errors';
import { createEntry, readEntry } from '../write-once';
import type { Storage } from '../storage/storage';
import * as layout from './layout';

export interface LabelTarget {
  project: string;
  build?: string;
}

const UNKNOWN_LABEL_MS = 5_000;
const UNKNOWN_LABEL_MAX = 10_000;

export class LabelIndex {
  private readonly labels = new Map<string, LabelTarget>();
  private readonly unknownLabels = new Map<string, number>();

  constructor(
    private readonly storage: Storage,
    private readonly now: () => number,
  ) {}

  /** Which project (and build) a label serves, or null when no artifact was ever uploaded for it. */
  async resolve(label: string): Promise<LabelTarget | null> {
    const known = this.known(label);
    if (known) return known;
    // a label published meanwhile by another instance is served at most UNKNOWN_LABEL_MS later;
    // one published here, at once
    const missUntil = this.unknownLabels.get(label);
    if (missUntil !== undefined && missUntil > this.now()) return null;
    const target = await readEntry<LabelTarget>(this.storage, 'artifacts', layout.labelKey(label));
    if (target) {
      this.labels.set(label, target);
      this.unknownLabels.delete(label);
    } else {
      if (this.unknownLabels.size >= UNKNOWN_LABEL_MAX) this.unknownLabels.clear();
      this.unknownLabels.set(label, this.now() + UNKNOWN_LABEL_MS);
    }
    return target;
  }

  /** A label already resolved in this process, without a storage read. */
  known(label: string): LabelTarget | undefined {
    return this.labels.get(label);
  }

  /** Records that `label` serves `target`; StorageError when it already serves another. */
  async ensure(label: string, target: LabelTarget): Promise<void> {
    const known = this.labels.get(label);
    if (known && sameTarget(known, target)) return;
    if (!(await createEntry(this.storage, 'artifacts', layout.labelKey(label), target))) {
      const existing = await readEntry<LabelTarget>(this.storage, 'artifacts', layout.labelKey(label));
      if (!existing || !sameTarget(existing, target)) {
        // 80 bits of SHA-256 collided, or the index was tampered with: never share an origin
        throw new StorageError(`origin label ${label} already belongs to another project`);
      }
    }
    this.labels.set(label, target);
    this.unknownLabels.delete(label);
  }
}

function sameTarget(a: LabelTarget, b: LabelTarget): boolean {
  return a.project === b.project && a.build === b.build;
}

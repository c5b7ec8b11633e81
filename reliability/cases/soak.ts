import type { Shared } from '../lib/shared';
import type { ReliabilityCase } from '../lib/types';
export function soakCase(_shared: Shared): ReliabilityCase {
  return { name: 'soak', run: async () => [] };
}

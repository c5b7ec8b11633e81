import type { Shared } from '../lib/shared';
import type { ReliabilityCase } from '../lib/types';
export function slowClientsCase(_shared: Shared): ReliabilityCase {
  return { name: 'slow-clients', run: async () => [] };
}

/**
 * The words of a cache listing's query, shared by the gateway (admin.ts, admin-routes.ts) and the
 * `cache list` command, which the runner client bundles: so this file imports nothing.
 */
export const SORTS = ['last-used', 'created', 'size', 'key'] as const;
export type Sort = (typeof SORTS)[number];
export const ORDERS = ['desc', 'asc'] as const;
export type Order = (typeof ORDERS)[number];
/** Entries one page holds at most. */
export const MAX_PAGE = 1000;

/** Keys ascending, everything else newest or largest first (as gh). */
export const defaultOrder = (sort: Sort): Order => (sort === 'key' ? 'asc' : 'desc');

import type { Context } from 'koa';

/** A path parameter @koa/router matched (its `ctx.params` is untyped): the text, or '' when absent. */
export function pathParam(ctx: Context, name: string): string {
  const value: unknown = (ctx.params as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
}

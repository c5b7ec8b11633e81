/** The one table the campaign prints (markdown, so a run pastes into docs/reliability.md). */
import type { CaseRow } from './types';

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function table(rows: CaseRow[]): string {
  const lines = ['| case | measured | baseline (same run) | outcome |', '| --- | --- | --- | --- |'];
  for (const r of rows) lines.push(`| ${cell(r.case)} | ${cell(r.measured)} | ${cell(r.baseline)} | ${r.outcome === 'pass' ? 'pass' : '**fail**'} |`);
  return lines.join('\n');
}

/** Why rows failed, and what to know about the others. */
export function details(rows: CaseRow[]): string {
  return rows
    .filter((r) => r.detail)
    .map((r) => `- ${r.outcome === 'fail' ? 'FAIL ' : ''}${r.case}: ${r.detail}`)
    .join('\n');
}

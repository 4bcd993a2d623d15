// Failures grouped by what fixes them: the category of functions/failures.ts
// and its one-line action, for the Markdown summary and anyone else that
// shows a run's problems together.

import { isErrorCode } from '../errors.ts';
import { CATEGORY_ACTIONS, classifyCode, type FailureCategory } from '../failures.ts';

/** The category of a stored code (a run record written before categories existed). */
export function categoryOfCode(code: string | undefined): FailureCategory | undefined {
  return code !== undefined && isErrorCode(code) ? classifyCode(code).category : undefined;
}

export interface FailureGroup {
  readonly category: FailureCategory;
  readonly action: string;
  readonly sources: readonly string[];
}

/** Entries that failed, conflicted or are invalid, by category, most numerous first. */
export function failureGroups(
  entries: readonly { source: string; status: string; category?: FailureCategory }[],
): FailureGroup[] {
  const groups = new Map<FailureCategory, string[]>();
  for (const entry of entries) {
    if (!['failed', 'conflict', 'invalid'].includes(entry.status)) continue;
    const category = entry.category ?? 'internal';
    groups.set(category, [...(groups.get(category) ?? []), entry.source]);
  }
  return [...groups]
    .map(([category, sources]) => ({ category, action: CATEGORY_ACTIONS[category], sources }))
    .sort((a, b) => b.sources.length - a.sources.length);
}

/** `rate-limited (TOO_MANY_REQUESTS)`: how a failed image names its kind beside its code. */
export function categoryLabel(entry: { category?: string; errorCode?: string }): string {
  if (!entry.category) return entry.errorCode ?? '';
  return entry.errorCode ? `${entry.category} (${entry.errorCode})` : entry.category;
}

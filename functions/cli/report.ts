// The JSON report (`--report FILE`), a contract CI jobs parse:
//   {"dryRun": bool, "results": [{"source", "target", "status", "digest"?, "mediaType"?, "error"?}]}
// Results are in file order and `source` is exactly as written in the file.

import { rename, writeFile } from 'node:fs/promises';
import type { CopyResult, CopyStatus } from '../engine/types.ts';

export type ReportStatus = CopyStatus | 'valid' | 'invalid';

export interface ReportEntry {
  readonly source: string;
  readonly target: string;
  readonly status: ReportStatus;
  readonly digest?: string;
  readonly mediaType?: string;
  readonly error?: string;
}

export interface Report {
  readonly dryRun: boolean;
  readonly results: readonly ReportEntry[];
}

export function reportEntry(result: CopyResult): ReportEntry {
  return {
    source: result.source,
    target: result.target,
    status: result.status,
    ...(result.digest !== undefined && { digest: result.digest }),
    ...(result.mediaType !== undefined && { mediaType: result.mediaType }),
    ...(result.error !== undefined && { error: result.error }),
  };
}

/** Written to a temporary name and renamed, so a reader never sees half a report. */
export async function writeReport(path: string, report: Report): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(report, null, 2)}\n`);
  await rename(temporary, path);
}

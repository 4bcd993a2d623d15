// The JSON report (`--report FILE`), a contract CI jobs parse:
//   {"dryRun": bool, "results": [{"source", "target", "status", "digest"?, "mediaType"?, "error"?,
//                                 "errorCode"?, "category"?, "pulls"?}]}
// Results are in file order and `source` is exactly as written in the file. A
// failed, conflicting or invalid image carries its stable `errorCode` and its
// `category` (functions/failures.ts); a planned one the `pulls` it will cost.

import { rename, writeFile } from 'node:fs/promises';
import type { EntryResult } from '../views/entries.ts';

export interface Report {
  readonly dryRun: boolean;
  readonly results: readonly EntryResult[];
}

/** Written to a temporary name and renamed, so a reader never sees half a report. */
export async function writeReport(path: string, report: Report): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(report, null, 2)}\n`);
  await rename(temporary, path);
}

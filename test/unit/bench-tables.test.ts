// bench/tables.ts: the bookkeeping table judges each run size against the
// targets of the run bookkeeping (infra/README.md, "Cost per run"): at most 5
// Storage requests and 16 KiB read a job, one announcement, and a larger run
// within 1.2× of the smallest run's figures.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BookkeepingFigure } from '../../bench/bookkeeping.ts';
import { bookkeepingTable } from '../../bench/tables.ts';

const run = (jobs: number, requestsPerJob: number, kibPerJob: number, messages = 1) =>
  ({ jobs, requestsPerJob, kibPerJob, messages, seconds: 1 }) satisfies BookkeepingFigure;

const verdicts = (figures: BookkeepingFigure[]) =>
  bookkeepingTable(figures).rows.map((row) => row.at(-1));

describe('bench bookkeeping table', () => {
  it('passes sizes within the targets, whatever order they come in', () => {
    assert.deepEqual(verdicts([run(10_000, 4.1, 6.9), run(1_000, 4.2, 9.7)]), ['PASS', 'PASS']);
  });

  it('fails a size over 5 requests or 16 KiB a job, or not announced exactly once', () => {
    assert.deepEqual(verdicts([run(1_000, 5.1, 9)]), ['FAIL']);
    assert.deepEqual(verdicts([run(1_000, 4, 16.5)]), ['FAIL']);
    assert.deepEqual(verdicts([run(1_000, 4, 9, 2)]), ['FAIL']);
    assert.deepEqual(verdicts([run(1_000, 4, 9, 0)]), ['FAIL']);
  });

  it('fails a larger run whose cost per job grows past 1.2× the smallest', () => {
    assert.deepEqual(verdicts([run(1_000, 3, 9), run(10_000, 3.7, 9)]), ['PASS', 'FAIL']);
    assert.deepEqual(verdicts([run(1_000, 4, 5), run(10_000, 4, 6.1)]), ['PASS', 'FAIL']);
  });
});

// The bench's figures as tables: one per phase, with its target and PASS or
// FAIL where the phase has one.

import type { BookkeepingFigure } from './bookkeeping.ts';
import type { BootFigures } from './boot.ts';
import type { ChaosFigures } from './chaos.ts';
import type { BigFigures, CopyFigures, CopyRun, Tool } from './copy.ts';
import { median } from './measure.ts';
import type { ReferrersFigures } from './referrers.ts';
import type { Table } from './report.ts';

const MiB = 1024 * 1024;
const COMPARED = ['measure', 'image-syncer', 'skopeo / curl', 'ratio', 'target', ''];

const check = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
const mbps = (bytes: number, seconds: number) => bytes / MiB / seconds;
const seconds = (s: number) => `${s.toFixed(2)} s`;
const mib = (m: number) => `${m.toFixed(0)} MiB`;
/** A wall-time row: image-syncer, skopeo, their ratio, the target. */
const timeRow = (name: string, syncer: number, skopeo: number, target: string, ok: boolean) => [
  name,
  seconds(syncer),
  seconds(skopeo),
  (syncer / skopeo).toFixed(2),
  target,
  check(ok),
];

function coldRows({ workload, runs }: CopyFigures): string[][] {
  const images = workload.cold.length;
  const med = (tool: Tool, pick: (r: CopyRun) => number) => median(runs.cold[tool].map(pick));
  const syncer = med('image-syncer', (r) => r.m.seconds);
  const skopeo = med('skopeo', (r) => r.m.seconds);
  const requests = (tool: Tool) => (med(tool, (r) => r.source.total) / images).toFixed(1);
  return [
    timeRow('cold wall time', syncer, skopeo, '≤ 0.70', syncer / skopeo <= 0.7),
    [
      'cold throughput',
      `${mbps(workload.coldBytes, syncer).toFixed(0)} MiB/s`,
      `${mbps(workload.coldBytes, skopeo).toFixed(0)} MiB/s`,
      ...['', '', ''],
    ],
    [
      'cold peak RSS',
      mib(med('image-syncer', (r) => r.m.maxRssMiB)),
      mib(med('skopeo', (r) => r.m.maxRssMiB)),
      ...['', '', ''],
    ],
    ['cold source requests / image', requests('image-syncer'), requests('skopeo'), '', '', ''],
  ];
}

function noopReferrersRows({ workload, runs }: CopyFigures): string[][] {
  const images = workload.cold.length;
  const withReferrers = runs.noopReferrers['image-syncer'];
  const perImage = Math.max(...withReferrers.map((r) => r.source.total)) / images;
  const gets = Math.max(...withReferrers.map((r) => r.source.manifestGets + r.source.blobGets));
  return [
    [
      'no-op wall time, referrers on (default)',
      seconds(median(withReferrers.map((r) => r.m.seconds))),
      ...['', '', '', ''],
    ],
    [
      'no-op source requests / image, referrers on',
      perImage.toFixed(2),
      '',
      '',
      '≤ 6 (HEADs, 1 referrers query)',
      check(perImage <= 6),
    ],
    ['no-op source manifest/blob GETs, referrers on', String(gets), '', '', '0', check(gets === 0)],
  ];
}

function noopRows(figures: CopyFigures): string[][] {
  const { runs } = figures;
  const images = figures.workload.cold.length;
  const syncer = median(runs.noop['image-syncer'].map((r) => r.m.seconds));
  const skopeo = median(runs.noop.skopeo.map((r) => r.m.seconds));
  const most = (tool: Tool, pick: (r: CopyRun) => number) => Math.max(...runs.noop[tool].map(pick));
  /** A count of the worst no-op round of each tool, and image-syncer's against the target. */
  const worst = (
    name: string,
    pick: (r: CopyRun) => number,
    format: (n: number) => string,
    target: string,
    ok: (n: number) => boolean,
  ) => {
    const syncerCount = most('image-syncer', pick);
    return [
      name,
      format(syncerCount),
      format(most('skopeo', pick)),
      '',
      target,
      check(ok(syncerCount)),
    ];
  };
  const gets = (r: CopyRun) => r.source.manifestGets + r.source.blobGets;
  const perImage = (r: CopyRun) => r.source.total / images;
  return [
    timeRow('no-op wall time', syncer, skopeo, '≤ 1.00', syncer <= skopeo),
    ...noopReferrersRows(figures),
    worst('no-op source manifest/blob GETs', gets, String, '0', (n) => n === 0),
    worst(
      'no-op source requests / image',
      perImage,
      (n) => n.toFixed(2),
      '≤ 2 (HEADs)',
      (n) => n <= 2,
    ),
    worst(
      'no-op target writes',
      (r) => r.target.writes,
      String,
      '0',
      (n) => n === 0,
    ),
  ];
}

export function copyTable(figures: CopyFigures): Table {
  return { columns: COMPARED, rows: [...coldRows(figures), ...noopRows(figures)] };
}

export function bigTable(big: BigFigures): Table {
  const syncer = median(big.syncer.map((m) => m.seconds));
  const curl = median(big.curl.map((m) => m.seconds));
  const rss = Math.max(...big.syncer.map((m) => m.maxRssMiB));
  const bytes = big.mib * MiB;
  return {
    columns: COMPARED,
    rows: [
      [
        `big (${big.mib} MiB layer) throughput`,
        `${mbps(bytes, syncer).toFixed(0)} MiB/s`,
        `${mbps(bytes, curl).toFixed(0)} MiB/s (curl)`,
        (curl / syncer).toFixed(2),
        '≥ 0.80',
        check(curl / syncer >= 0.8),
      ],
      [
        'big peak RSS',
        mib(rss),
        `${mib(Math.max(...big.curl.map((m) => m.maxRssMiB)))} (curl)`,
        '',
        '< 150 MiB',
        check(rss < 150),
      ],
    ],
  };
}

export function fanOutTable(fanOut: { seconds: number; pinnedSeconds: number }): Table {
  return {
    columns: ['measure', 'image-syncer', 'target', ''],
    rows: [
      [
        'fan-out: 2,000 jobs published',
        seconds(fanOut.seconds),
        '< 5 s',
        check(fanOut.seconds < 5),
      ],
      ['fan-out with digests pinned (2,000 HEADs)', seconds(fanOut.pinnedSeconds), '', ''],
    ],
  };
}

export function bootTable(boot: BootFigures): Table {
  const rows = (['copyJob', 'planApi'] as const).flatMap((name) => {
    const ratio = boot[name].ms / boot.hello.ms;
    return [
      [
        `boot: ${name} start to first answer`,
        `${boot[name].ms.toFixed(0)} ms`,
        `${boot.hello.ms.toFixed(0)} ms (hello-world on Storage and Pub/Sub)`,
        ratio.toFixed(2),
        '≤ 1.50',
        check(ratio <= 1.5),
      ],
      [
        `boot: ${name} peak RSS at first answer`,
        mib(boot[name].rssMiB),
        `${mib(boot.hello.rssMiB)} (hello-world)`,
        '',
        '< 128 MiB',
        check(boot[name].rssMiB < 128),
      ],
    ];
  });
  return { columns: ['measure', 'image-syncer', 'baseline', 'ratio', 'target', ''], rows };
}

export function referrersTable(signed: ReferrersFigures): Table {
  const per = (n: number) => (n / signed.images).toFixed(2);
  const { on, off } = signed;
  const onGets = on.noopSource.manifestGets + on.noopSource.blobGets;
  return {
    columns: ['measure', 'referrers on (default)', '`--referrers=false`', 'target', ''],
    rows: [
      ['cold wall time', seconds(on.cold.seconds), seconds(off.cold.seconds), '', ''],
      ['cold source requests / image', per(on.coldSource.total), per(off.coldSource.total), '', ''],
      ['no-op wall time', seconds(on.noop.seconds), seconds(off.noop.seconds), '', ''],
      [
        'no-op source manifest/blob GETs',
        String(onGets),
        String(off.noopSource.manifestGets + off.noopSource.blobGets),
        '0',
        check(onGets === 0),
      ],
      [
        'no-op source requests / image',
        per(on.noopSource.total),
        per(off.noopSource.total),
        '≤ 6',
        check(on.noopSource.total / signed.images <= 6),
      ],
      [
        'no-op target writes',
        String(on.noopTarget.writes),
        String(off.noopTarget.writes),
        '0',
        check(on.noopTarget.writes === 0),
      ],
    ],
  };
}

/**
 * Targets per run size: at most 5 Storage requests and 16 KiB read per job,
 * one announcement; larger runs within 1.2× of the smallest one's figures
 * (the cost per job does not grow with the run).
 */
export function bookkeepingTable(figures: readonly BookkeepingFigure[]): Table {
  const smallest = figures.reduce<BookkeepingFigure | undefined>(
    (least, f) => (least && least.jobs <= f.jobs ? least : f),
    undefined,
  );
  return {
    columns: [
      'run of',
      'storage requests / job',
      'KiB read / job',
      'run-completed messages',
      'target',
      '',
    ],
    rows: figures.map((f) => {
      const scales =
        !smallest ||
        f === smallest ||
        (f.requestsPerJob <= 1.2 * smallest.requestsPerJob &&
          f.kibPerJob <= 1.2 * smallest.kibPerJob);
      const target =
        f === smallest
          ? '≤ 5, ≤ 16, 1'
          : `≤ 5, ≤ 16, 1; ≤ 1.2× the ${smallest?.jobs.toLocaleString('en-US')}-job figures`;
      return [
        `${f.jobs.toLocaleString('en-US')} jobs`,
        f.requestsPerJob.toFixed(2),
        f.kibPerJob.toFixed(2),
        String(f.messages),
        target,
        check(f.requestsPerJob <= 5 && f.kibPerJob <= 16 && f.messages === 1 && scales),
      ];
    }),
  };
}

export function chaosTable(chaos: ChaosFigures): Table {
  const pushes = Object.entries(chaos.pushes).map(([status, n]) => `${status}: ${n}`);
  return {
    columns: ['measure', 'figure'],
    rows: [
      ['images announced', `${chaos.images} in ${chaos.seconds.toFixed(1)} s`],
      ['random kills', String(chaos.kills)],
      ['claimer killed between claim and publish', chaos.claimerKilled ? 'yes' : 'no'],
      ['pushes answered, by status', pushes.join(', ')],
      ['images final', `${chaos.finalImages} of ${chaos.plannedImages} (${chaos.records} records)`],
      ['run-completed messages', String(chaos.messages)],
      ['dead-lettered', String(chaos.deadLetters)],
      ['run page', chaos.runPage],
    ],
  };
}

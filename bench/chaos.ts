// The chaos phase of `npm run bench`: a run of BENCH_CHAOS_IMAGES images
// (default 500) through two copy function instances killed at random every
// 1.5 to 3 s, and once between the claim of the run's announcement and its
// publish (test/support/chaos.ts, which test/integration/chaos.test.ts checks).

import { runChaos } from '../test/support/chaos.ts';

export interface ChaosFigures {
  readonly images: number;
  readonly seconds: number;
  readonly kills: number;
  readonly claimerKilled: boolean;
  readonly pushes: Readonly<Record<number, number>>;
  readonly finalImages: number;
  readonly plannedImages: number;
  readonly records: number;
  readonly messages: number;
  readonly deadLetters: number;
  readonly runPage: string;
}

export async function benchChaos(
  images: number,
  say: (line: string) => void,
): Promise<ChaosFigures> {
  const chaos = await runChaos({
    images,
    instances: 2,
    killEveryMs: [1500, 3000],
    timeoutMs: 600_000,
  });
  const figures: ChaosFigures = {
    images,
    seconds: chaos.seconds,
    kills: chaos.kills,
    claimerKilled: chaos.claimerKilled,
    pushes: chaos.pushes,
    finalImages: [...chaos.records.values()].filter((r) => r.final).length,
    plannedImages: chaos.plannedKeys.length,
    records: chaos.records.size,
    messages: chaos.messages.length,
    deadLetters: chaos.deadLetters,
    runPage: chaos.status.phase,
  };
  say(
    `chaos: ${images} images announced in ${figures.seconds.toFixed(1)} s through ${figures.kills} random kills${figures.claimerKilled ? ' and a claimer killed between claim and publish' : ''}; ` +
      `pushes answered ${JSON.stringify(figures.pushes)}; ${figures.finalImages} of ${figures.plannedImages} images final, ${figures.records} records; ` +
      `${figures.messages} run-completed message(s), ${figures.deadLetters} dead-lettered; run page: ${figures.runPage}`,
  );
  return figures;
}

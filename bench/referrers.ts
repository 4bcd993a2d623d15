// The referrers phase of `npm run bench`: what signatures, attestations and
// SBOMs cost. 20 signed images (each with cosign .sig and .att tags and an
// OCI 1.1 SBOM referrer listed through the referrers tag schema, as on a
// registry without the referrers API) are copied cold and then again (no-op),
// once with referrers on (the default) and once with --referrers=false, each
// into an empty target. Request counts come from the registries' access logs.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pusher, SPDX } from '../test/support/artifacts.ts';
import type { TestRegistry } from '../test/support/registry.ts';
import { countedRun, runSyncer, startBenchTarget, useTarget } from './copy.ts';
import type { Measurement, RequestCounts } from './measure.ts';

/** image-syncer's cold and no-op runs on the signed images, with one referrers setting. */
export interface ReferrersRuns {
  readonly cold: Measurement;
  readonly noop: Measurement;
  readonly coldSource: RequestCounts;
  readonly noopSource: RequestCounts;
  readonly noopTarget: RequestCounts;
}

export interface ReferrersFigures {
  readonly images: number;
  readonly on: ReferrersRuns;
  readonly off: ReferrersRuns;
}

const IMAGES = 20;

export async function benchReferrers(
  source: TestRegistry,
  pusherCreds: string,
  dir: string,
  env: NodeJS.ProcessEnv,
): Promise<ReferrersFigures> {
  const src = new Pusher(source.url, pusherCreds);
  const lines: string[] = [];
  for (let i = 1; i <= IMAGES; i++) {
    const repo = `signed/app-${String(i).padStart(2, '0')}`;
    const image = await src.image(repo, 'v1');
    await src.cosign(repo, image.digest, 'sig');
    await src.cosign(repo, image.digest, 'att');
    const sbom = await src.referrer(repo, image, SPDX);
    await src.tagSchema(repo, image.digest, [sbom]);
    lines.push(`- source: ${source.host}/${repo}:v1`);
  }
  const file = join(dir, 'signed.yaml');
  writeFileSync(file, `images:\n${lines.join('\n')}\n`);

  const phase = async (args: string[]): Promise<ReferrersRuns> => {
    const target = await startBenchTarget();
    useTarget(dir, target);
    try {
      const once = () =>
        countedRun(`image-syncer ${args.join(' ')}`, source, target, () =>
          runSyncer(file, target, 'm', args, { DOCKER_CONFIG: dir, ...env }),
        );
      const cold = await once();
      const noop = await once();
      return {
        cold: cold.m,
        noop: noop.m,
        coldSource: cold.source,
        noopSource: noop.source,
        noopTarget: noop.target,
      };
    } finally {
      await target.stop();
    }
  };
  const on = await phase([]);
  const off = await phase(['--referrers=false']);
  return { images: IMAGES, on, off };
}

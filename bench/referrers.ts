// The referrers phase of `npm run bench`: what signatures, attestations and
// SBOMs cost. 20 signed images (each with cosign .sig and .att tags and an
// OCI 1.1 SBOM referrer listed through the referrers tag schema, as on a
// registry without the referrers API) are copied cold and then again (no-op),
// once with referrers on (the default) and once with --referrers=false, each
// into an empty target. Request counts come from the registries' access logs.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pusher, SPDX } from '../test/support/artifacts.ts';
import { startRegistry, type TestRegistry } from '../test/support/registry.ts';
import { useTarget } from './copy.ts';
import {
  countRequests,
  type Measurement,
  measure,
  type RequestCounts,
  settled,
} from './measure.ts';

export interface ReferrersFigures {
  readonly images: number;
  readonly on: {
    cold: Measurement;
    noop: Measurement;
    coldSource: RequestCounts;
    noopSource: RequestCounts;
    noopTarget: RequestCounts;
  };
  readonly off: {
    cold: Measurement;
    noop: Measurement;
    coldSource: RequestCounts;
    noopSource: RequestCounts;
    noopTarget: RequestCounts;
  };
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

  const phase = async (args: string[]) => {
    const target = await startRegistry({ kind: 'basic', users: { bench: 'bench-write' } });
    useTarget(dir, target);
    try {
      const once = async () => {
        source.clearLog();
        target.clearLog();
        const m = await measure(
          'bin/image-syncer.js',
          ['-i', file, '-r', `${target.host}/m/`, ...args],
          {
            DOCKER_CONFIG: dir,
            ...env,
          },
        );
        if (m.exitCode !== 0)
          throw new Error(`image-syncer ${args.join(' ')} failed:\n${m.output.slice(-2000)}`);
        return {
          m,
          source: countRequests(await settled(source)),
          target: countRequests(await settled(target)),
        };
      };
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

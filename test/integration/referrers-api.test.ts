// The OCI 1.1 referrers API, which Debian's docker-registry 2.8 lacks, served
// by test/support/referrers-proxy.ts in front of the real registries (OCI
// distribution-spec v1.1.0, spec.md §Listing Referrers: end-12a/12b,
// `artifactType` filtering with OCI-Filters-Applied, `Link: rel="next"` pages;
// §Pushing Manifests with Subject: OCI-Subject). The source lists its
// referrers through the API, pages included; the target has the API too, so
// pushing each referrer with its `subject` is enough and no referrers tag is made.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type Pushed, Pusher, SIGSTORE_BUNDLE, SPDX } from '../support/artifacts.ts';
import { type Pair, SOURCE_PUSHER, startPair, TARGET_WRITER } from '../support/fixture.ts';
import { inspectRaw, sha256 } from '../support/images.ts';
import { type ReferrersProxy, startReferrersProxy } from '../support/referrers-proxy.ts';

interface Entry {
  status: string;
  errorCode?: string;
  referrers?: {
    found: number;
    copied: number;
    exists: number;
    signed: boolean;
    items: { digest: string; via: string; status: string }[];
  };
}

describe('the referrers API (served by a proxy in front of docker-registry)', () => {
  let pair: Pair;
  let sourceProxy: ReferrersProxy;
  let targetProxy: ReferrersProxy;
  let image: Pushed;
  let referrers: Pushed[];
  let file: string;
  let prefix: string;

  async function run(args: string[] = []): Promise<{ code: number; entry: Entry; out: string }> {
    const report = `${pair.dir}/api-${Math.random().toString(36).slice(2)}.json`;
    const r = await pair.cli(['-i', file, '-r', prefix, '--report', report, ...args], {
      DOCKER_CONFIG: pair.dockerConfig,
    });
    const parsed = JSON.parse(readFileSync(report, 'utf8')) as { results: Entry[] };
    return { code: r.code, entry: parsed.results[0] as Entry, out: r.stdout + r.stderr };
  }

  before(async () => {
    pair = await startPair();
    sourceProxy = await startReferrersProxy(pair.source.url, { pageSize: 2 });
    targetProxy = await startReferrersProxy(pair.target.url);
    // The target's credentials must also be found under the proxy's host.
    const config = `${pair.dockerConfig}/config.json`;
    const auths = JSON.parse(readFileSync(config, 'utf8'));
    auths.auths[targetProxy.host] = auths.auths[pair.target.host];
    (await import('node:fs')).writeFileSync(config, JSON.stringify(auths));

    const src = new Pusher(sourceProxy.url, SOURCE_PUSHER);
    image = await src.image('team/app', 'v1');
    referrers = [
      await src.referrer('team/app', image, SIGSTORE_BUNDLE),
      await src.referrer('team/app', image, SPDX),
      await src.referrer('team/app', image, SIGSTORE_BUNDLE),
    ];
    file = pair.writeFile('api.yaml', `images:\n- source: "${sourceProxy.host}/team/app:v1"\n`);
    prefix = `${targetProxy.host}/mirror/`;
  });
  after(async () => {
    await sourceProxy.close();
    await targetProxy.close();
    await pair.stop();
  });

  it('lists every page from the source and relies on the target API (no referrers tag)', async () => {
    const { code, entry, out } = await run();
    assert.equal(code, 0, out);
    assert.equal(entry.status, 'copied');
    assert.deepEqual(
      entry.referrers?.items.map((i) => [i.digest, i.via, i.status]),
      referrers.map((r) => [r.digest, 'api', 'copied']),
    );
    // Two pages of two and one: the Link header was followed.
    const pages = sourceProxy.seen.filter(
      (s) => s.method === 'GET' && s.path.includes(`/referrers/${image.digest}`),
    );
    assert.deepEqual(
      pages.map((p) => p.path.includes('page=1')),
      [false, true],
    );
    const repo = `mirror/${sourceProxy.host.replace(':', '_')}/team/app`;
    for (const r of referrers) {
      const raw = await inspectRaw(`${targetProxy.host}/${repo}@${r.digest}`, TARGET_WRITER);
      assert.equal(sha256(raw), r.digest);
    }
    // The target answered its referrers API, so no tag schema index was pushed.
    const tagPuts = targetProxy.seen.filter(
      (s) => s.method === 'PUT' && s.path.includes('/manifests/sha256-'),
    );
    assert.deepEqual(tagPuts, []);
    const listing = await fetch(`${targetProxy.url}/v2/${repo}/referrers/${image.digest}`, {
      headers: { authorization: `Basic ${Buffer.from(TARGET_WRITER).toString('base64')}` },
    });
    const listed = (await listing.json()) as { manifests: { digest: string }[] };
    assert.equal(listed.manifests.length, 2, 'first page of the target listing');
    assert.match(listing.headers.get('link') ?? '', /rel="next"/);
  });

  it('filters by artifactType and re-runs without a manifest or blob GET', async () => {
    const before = sourceProxy.seen.length;
    const { code, entry } = await run(['--referrer-types', SPDX]);
    assert.equal(code, 0);
    assert.equal(entry.status, 'exists');
    assert.deepEqual(
      entry.referrers?.items.filter((i) => i.status !== 'skipped').map((i) => [i.digest, i.status]),
      [[referrers[1]?.digest, 'exists']],
    );
    // The sigstore bundles are still seen (and skipped): the image is signed.
    assert.equal(entry.referrers?.signed, true);
    const seen = sourceProxy.seen.slice(before);
    assert.deepEqual(
      seen.filter((s) => s.method === 'GET' && /\/(manifests|blobs)\//.test(s.path)),
      [],
    );
  });

  it('a type filter does not hide the signatures the policy looks for', async () => {
    // Signed by two sigstore bundles; only SBOMs are to be copied. Asking the
    // registry for SBOMs alone (`?artifactType=`) would list no signature and
    // refuse a signed image as SIGNATURE_REQUIRED.
    const { code, entry, out } = await run(['--referrer-types', SPDX, '--require-signature']);
    assert.equal(code, 0, out);
    assert.equal(entry.status, 'exists', entry.errorCode);
    assert.equal(entry.referrers?.signed, true);
  });
});

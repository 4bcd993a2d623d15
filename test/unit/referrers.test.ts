// The pure parts of referrers: tag names (OCI distribution-spec v1.1.0 §Referrers
// Tag Schema, its examples), `Link` paging (§Listing Referrers, RFC 5988),
// cosign's tags (sigstore "Signature Specification" → Storage), classification,
// and the settings that reach the engine from flags, variables, images files
// and job messages.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFlags } from '../../functions/cli/flags.ts';
import { DEFAULT_REFERRERS_OPTIONS } from '../../functions/engine/referrer-options.ts';
import { signatureRequired } from '../../functions/engine/signature-policy.ts';
import { loadConfig } from '../../functions/gcp/config.ts';
import { ImagesFileError } from '../../functions/images-file/diagnostics.ts';
import { parseImagesFile } from '../../functions/images-file/parse.ts';
import { classify, cosignTag } from '../../functions/oci/cosign.ts';
import {
  parseReferrersList,
  referrersIndexBytes,
  referrersTag,
  subjectInfo,
} from '../../functions/oci/referrers.ts';
import { parseJob } from '../../functions/pipeline/job.ts';
import { parseTargetPrefix } from '../../functions/reference/target.ts';
import { nextPage, queryReferrers } from '../../functions/registry/referrers.ts';
import { Registries } from '../../functions/registry/registries.ts';
import { referrersNote } from '../../functions/views/referrers-text.ts';
import { startFakeServer } from '../support/fake-server.ts';

const A64 = 'a'.repeat(64);

describe('referrers tag schema and cosign tags', () => {
  it('derives the tag as the spec examples do', () => {
    assert.equal(referrersTag(`sha256:${A64}`), `sha256-${A64}`);
    // sha512: the encoded part is truncated to 64 characters.
    assert.equal(referrersTag(`sha512:${'a'.repeat(128)}`), `sha512-${A64}`);
    assert.equal(
      referrersTag(
        'test+algorithm+using+algorithm+separators+and+lots+of+characters+to+excercise+overall+truncation:alsoSome=InTheEncodedSectionToShowHyphenReplacementAndLotsAndLotsOfCharactersToExcerciseEncodedTruncation',
      ),
      'test-algorithm-using-algorithm-s-alsoSome-InTheEncodedSectionToShowHyphenReplacementAndLotsAndLot',
    );
  });
  it("names cosign's tags s/:/-/ plus .sig, .att, .sbom", () => {
    assert.equal(cosignTag(`sha256:${A64}`, 'sig'), `sha256-${A64}.sig`);
    assert.equal(cosignTag(`sha256:${A64}`, 'sbom'), `sha256-${A64}.sbom`);
  });
  it('classifies signatures, attestations and SBOMs', () => {
    assert.equal(classify('application/vnd.dev.sigstore.bundle.v0.3+json'), 'signature');
    assert.equal(classify('application/vnd.cncf.notary.signature'), 'signature');
    assert.equal(classify('application/vnd.dsse.envelope.v1+json'), 'attestation');
    assert.equal(classify('application/spdx+json'), 'sbom');
    assert.equal(classify('application/vnd.cyclonedx+json'), 'sbom');
    assert.equal(classify('application/vnd.example.thing'), 'other');
    assert.equal(classify(undefined, 'att'), 'attestation');
  });
});

describe('referrers lists', () => {
  it('follows rel="next" on the same origin only', () => {
    const here = new URL('http://r.example/v2/a/referrers/sha256:x');
    assert.equal(
      nextPage('</v2/a/referrers/sha256:x?page=2>; rel="next"', here)?.toString(),
      'http://r.example/v2/a/referrers/sha256:x?page=2',
    );
    assert.equal(nextPage('<http://evil.example/v2/x>; rel="next"', here), undefined);
    assert.equal(nextPage('</v2/x>; rel="prev"', here), undefined);
    assert.equal(nextPage(undefined, here), undefined);
  });
  it('reads descriptors and keeps only manifests and indexes', () => {
    const bytes = referrersIndexBytes([
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: `sha256:${A64}`,
        size: 10,
        artifactType: 'application/spdx+json',
        annotations: { a: 'b' },
      },
    ]);
    const list = parseReferrersList('x', bytes);
    assert.deepEqual(
      list.map((d) => [d.digest, d.artifactType, d.annotations?.a]),
      [[`sha256:${A64}`, 'application/spdx+json', 'b']],
    );
    const mixed = Buffer.from(
      JSON.stringify({
        manifests: [{ mediaType: 'application/octet-stream', digest: `sha256:${A64}`, size: 1 }],
      }),
    );
    assert.deepEqual(parseReferrersList('x', mixed), []);
    assert.throws(() => parseReferrersList('x', Buffer.from('{}')), /not an image index/);
  });
  it("takes a manifest's subject and its artifact type, else its config's media type", () => {
    const subject = { mediaType: 'x', digest: `sha256:${A64}`, size: 1 };
    assert.deepEqual(
      subjectInfo(Buffer.from(JSON.stringify({ subject, config: { mediaType: 'c/t' } }))),
      { subject: subject.digest, artifactType: 'c/t' },
    );
    assert.deepEqual(subjectInfo(Buffer.from('nope')), {});
  });
});

describe('referrer settings', () => {
  it('defaults on, and reads every flag and its SYNCER_ variable', () => {
    assert.deepEqual(parseFlags(['-i', 'f'], {}).referrers, DEFAULT_REFERRERS_OPTIONS);
    const options = parseFlags(
      ['-i', 'f', '--referrers=false', '--referrer-types', 'signature', '--referrers-depth=3'],
      { SYNCER_REQUIRE_SIGNATURE: 'true', SYNCER_REFERRERS_ALL_PLATFORMS: '1' },
    ).referrers;
    assert.deepEqual(options, {
      enabled: false,
      types: ['signature'],
      allPlatforms: true,
      depth: 3,
      requireSignature: true,
    });
    assert.throws(
      () => parseFlags(['-i', 'f', '--referrer-types', 'sigs'], {}),
      /--referrer-types: "sigs"/,
    );
    assert.throws(() => parseFlags(['-i', 'f', '--referrers-depth', '9'], {}), /1 to 4/);
  });
  it('reads the same settings in the functions, naming a bad variable', () => {
    const base = { SYNCER_TARGET_REPO_PREFIX: 'gcr.example.io/m/' };
    assert.deepEqual(loadConfig(base).referrers, DEFAULT_REFERRERS_OPTIONS);
    const config = loadConfig({
      ...base,
      SYNCER_REFERRERS: 'false',
      SYNCER_REFERRER_TYPES: 'sbom, application/spdx+json',
      SYNCER_REQUIRE_SIGNATURE: 'true',
    });
    assert.deepEqual(config.referrers.types, ['sbom', 'application/spdx+json']);
    assert.equal(config.referrers.enabled, false);
    assert.equal(config.referrers.requireSignature, true);
    assert.throws(
      () => loadConfig({ ...base, SYNCER_REFERRERS_DEPTH: '0' }),
      /SYNCER_REFERRERS_DEPTH/,
    );
  });
  it('takes requireSignature per entry, refusing anything but a boolean with file, line and field', () => {
    const prefix = parseTargetPrefix('gcr.example.io/m/');
    const file = parseImagesFile(
      'f.yaml',
      Buffer.from('images:\n- source: a:1\n  requireSignature: true\n- source: b:1\n'),
      prefix,
    );
    assert.deepEqual(
      file.entries.map((e) => e.requireSignature),
      [true, undefined],
    );
    try {
      parseImagesFile(
        'f.yaml',
        Buffer.from('images:\n- source: a:1\n  requireSignature: "yes"\n'),
        prefix,
      );
      assert.fail('accepted a string');
    } catch (error) {
      assert.ok(error instanceof ImagesFileError);
      assert.deepEqual(
        error.diagnostics.map((d) => `${d.file}:${d.line}: ${d.field}: ${d.message}`),
        ['f.yaml:3: images[0].requireSignature: must be true or false (unquoted)'],
      );
    }
  });
  it('carries requireSignature in job messages, compatibly', () => {
    const job = (value: object) => Buffer.from(JSON.stringify(value));
    assert.equal(
      parseJob(job({ runId: 'r', source: 'a:1', requireSignature: true })).requireSignature,
      true,
    );
    assert.equal(parseJob(job({ runId: 'r', source: 'a:1' })).requireSignature, undefined);
    assert.throws(
      () => parseJob(job({ runId: 'r', source: 'a:1', requireSignature: 'yes' })),
      /requireSignature must be a boolean/,
    );
  });
  it('summarises referrers in one line', () => {
    assert.equal(referrersNote(undefined), '');
    assert.equal(
      referrersNote({
        found: 2,
        copied: 1,
        exists: 0,
        planned: 0,
        skipped: 1,
        changed: 0,
        signed: false,
        items: [
          {
            digest: 'd1',
            subject: 's',
            kind: 'sbom',
            via: 'cosign',
            tag: 't.sbom',
            status: 'copied',
          },
          {
            digest: 'd2',
            subject: 's',
            kind: 'other',
            via: 'api',
            artifactType: 'x/y',
            status: 'skipped',
            reason: 'not among --referrer-types',
          },
        ],
      }),
      'unsigned · 2 referrer(s): 1 copied, 1 skipped · x/y: not among --referrer-types',
    );
  });
});

describe('signature policy', () => {
  it("lets an entry's own requireSignature win over the global setting", () => {
    assert.equal(signatureRequired(false, undefined), false);
    assert.equal(signatureRequired(true, undefined), true);
    assert.equal(signatureRequired(false, true), true);
    assert.equal(signatureRequired(true, false), false, 'an entry may opt out');
  });
});

describe('the referrers API client (scripted registry)', () => {
  const index = (n: number) =>
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
          size: 1,
          artifactType:
            n % 2 ? 'application/spdx+json' : 'application/vnd.dev.sigstore.bundle.v0.3+json',
        },
      ],
    });

  /** A registry that answers every referrers page with `body(page)` and links a next one, forever. */
  const endlessPages = (body: (page: number) => string) =>
    startFakeServer((req, res) => {
      if (req.url === '/v2/') {
        res.writeHead(200).end();
        return;
      }
      const page = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('page') ?? '0');
      res
        .writeHead(200, {
          'content-type': 'application/vnd.oci.image.index.v1+json',
          link: `</v2/a/b/referrers/sha256:${A64}?page=${page + 1}>; rel="next"`,
        })
        .end(body(page));
    });

  it('filters on our side when the registry ignores artifactType, and refuses endless pages', async () => {
    // This registry ignores ?artifactType= (no OCI-Filters-Applied) and pages forever.
    const server = await endlessPages((page) => index(page + 1));
    const registries = new Registries({ retry: { attempts: 1 } });
    try {
      await assert.rejects(
        queryReferrers(registries.client(server.host), 'a/b', `sha256:${A64}`),
        /more than 64 pages/,
      );
      assert.equal(server.transcript.filter((e) => e.path.includes('/referrers/')).length, 64);
    } finally {
      await registries.close();
      await server.close();
    }
  });

  it('stops paging once a listing holds more referrers than any image has', async () => {
    // 100 referrers a page, pages without end: the 256-referrer cap must stop
    // the reading after the third page, not after 64 pages (up to 64 × 4 MiB).
    const many = (page: number) =>
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: Array.from({ length: 100 }, (_, i) => ({
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${(page * 100 + i).toString(16).padStart(64, '0')}`,
          size: 1,
        })),
      });
    const server = await endlessPages(many);
    const registries = new Registries({ retry: { attempts: 1 } });
    try {
      await assert.rejects(
        queryReferrers(registries.client(server.host), 'a/b', `sha256:${A64}`),
        /more than 256 referrers/,
      );
      assert.equal(server.transcript.filter((e) => e.path.includes('/referrers/')).length, 3);
    } finally {
      await registries.close();
      await server.close();
    }
  });

  it('keeps only the artifact type asked for when the registry sends more', async () => {
    const server = await startFakeServer((req, res) => {
      if (req.url === '/v2/') {
        res.writeHead(200).end();
        return;
      }
      const page = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('page') ?? '0');
      res
        .writeHead(200, {
          'content-type': 'application/vnd.oci.image.index.v1+json',
          ...(page < 1 && { link: `</v2/a/b/referrers/sha256:${A64}?page=1>; rel="next"` }),
        })
        .end(index(page + 1));
    });
    const registries = new Registries({ retry: { attempts: 1 } });
    try {
      const answer = await queryReferrers(
        registries.client(server.host),
        'a/b',
        `sha256:${A64}`,
        'application/spdx+json',
      );
      assert.ok(answer.supported);
      assert.deepEqual(answer.supported && answer.descriptors.map((d) => d.artifactType), [
        'application/spdx+json',
      ]);
      assert.match(
        server.transcript.find((e) => e.path.includes('/referrers/'))?.path ?? '',
        /artifactType=application%2Fspdx%2Bjson/,
      );
    } finally {
      await registries.close();
      await server.close();
    }
  });
});

describe('merged duplicates', () => {
  it('keep the stricter requireSignature', () => {
    const file = parseImagesFile(
      'f.yaml',
      Buffer.from('images:\n- source: a:1\n- source: a:1\n  requireSignature: true\n'),
      parseTargetPrefix('gcr.example.io/m/'),
    );
    assert.deepEqual(
      file.entries.map((e) => [e.source, e.requireSignature]),
      [['a:1', true]],
    );
  });

  it('do not keep an exemption (requireSignature: false) that only one of them has', () => {
    // The second entry is under the global --require-signature; merged into the
    // exempt first one, the image would be copied unsigned.
    const file = parseImagesFile(
      'f.yaml',
      Buffer.from('images:\n- source: a:1\n  requireSignature: false\n- source: a:1\n'),
      parseTargetPrefix('gcr.example.io/m/'),
    );
    assert.deepEqual(
      file.entries.map((e) => [e.source, e.requireSignature]),
      [['a:1', undefined]],
    );
  });
});

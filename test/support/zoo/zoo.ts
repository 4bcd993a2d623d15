// The whole zoo for one test file: three real docker-registry servers started
// once (a token-auth source, an anonymous source, a token-auth target), the
// matrix's images pushed to both sources with skopeo (and to the token source
// once more under the path registry.k8s.io redirects to), and a front per
// profile. Profiles share the registries: each one copies into its own target
// prefix.

import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SOURCE_PUSHER, TARGET_WRITER } from '../fixture.ts';
import { type Descriptor, inspectRaw, Layout, push, sha256 } from '../images.ts';
import { startRegistry, type TestRegistry } from '../registry.ts';
import type { Behaviours, Profile } from './behaviours.ts';
import { type Front, startFront } from './engine.ts';
import { artifactRegistry, PROFILES, registryK8s } from './profiles/index.ts';

export interface MatrixImages {
  /** The OCI layout every image was pushed from (tags multi, list, single, other). */
  readonly layout: Layout;
  /** OCI index: two platforms and a BuildKit attestation. */
  readonly index: Descriptor;
  /** The layer both platforms of the index share. */
  readonly shared: Descriptor;
  readonly amd64: Descriptor;
  /** Docker manifest list (skopeo --format v2s2). */
  readonly dockerListDigest: string;
  /** Single OCI manifest. */
  readonly single: Descriptor;
  /** Single Docker schema 2 manifest. */
  readonly dockerSingleDigest: string;
  /** Another single image, only in the layout: the other writer of the immutable-tag race. */
  readonly other: Descriptor;
}

export interface Zoo {
  readonly tokenSource: TestRegistry;
  readonly openSource: TestRegistry;
  readonly target: TestRegistry;
  readonly images: MatrixImages;
  /** One front per profile, by profile id; k8s redirects to `k8sBackend`. */
  readonly fronts: ReadonlyMap<string, Front>;
  /** The Artifact Registry that registry.k8s.io redirects to. */
  readonly k8sBackend: Front;
  /** The target, behaving as Artifact Registry. */
  readonly targetFront: Front;
  /** Another front on the target registry, with behaviours of a test's choosing. */
  targetVariant(overrides: Partial<Behaviours>): Promise<Front>;
  /** Another front for a source profile (same registry behind it), with behaviours of a test's choosing. */
  sourceVariant(id: string, overrides: Partial<Behaviours>): Promise<Front>;
  stop(): Promise<void>;
}

const run = promisify(execFile);

/** skopeo copy between registries, bytes preserved (a Docker list converts anew each push). */
async function copyBetween(from: string, to: string, creds = 'anonymous:none'): Promise<void> {
  const authFile = join(mkdtempSync(join(tmpdir(), 'zoo-auth-')), 'auth.json');
  writeFileSync(authFile, '{"auths":{}}');
  await run(
    'skopeo',
    [
      'copy',
      '--quiet',
      '--all',
      '--preserve-digests',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      '--dest-creds',
      creds,
      `docker://${from}`,
      `docker://${to}`,
    ],
    { env: { ...process.env, REGISTRY_AUTH_FILE: authFile } },
  );
}

async function seed(tokenSource: TestRegistry, openSource: TestRegistry): Promise<MatrixImages> {
  const layout = new Layout();
  const shared = layout.layer(40_000);
  const amd64 = layout.image({ layers: [shared, 8_000] });
  const arm64 = layout.image({ layers: [shared, 9_000], architecture: 'arm64' });
  const index = layout.index([amd64, arm64, layout.attestation(amd64)]);
  layout.tag('multi', index);
  layout.tag('list', layout.index([amd64, arm64]));
  const single = layout.image({ layers: [6_000, 7_000] });
  layout.tag('single', single);
  const other = layout.image({ layers: [5_000] });
  layout.tag('other', other);
  const at = (registry: TestRegistry, repo: string) => `${registry.host}/team/${repo}:v1`;
  // Where registry.k8s.io sends its clients: the same images under its upstream path.
  const k8sPrefix = registryK8s.behaviours.redirectEverything?.repositoryPrefix ?? '';
  const atK8s = (repo: string) => `${tokenSource.host}/${k8sPrefix}team/${repo}:v1`;
  const creds = { creds: SOURCE_PUSHER };
  // skopeo wants some credentials; the anonymous registry ignores them.
  const anonymous = { creds: 'anonymous:none' };
  await Promise.all([
    push(layout, 'list', at(tokenSource, 'dockerlist'), { ...creds, dockerFormat: true }),
    push(layout, 'single', at(tokenSource, 'dockersingle'), { ...creds, dockerFormat: true }),
    ...[tokenSource, openSource].flatMap((registry) => {
      const how = registry === tokenSource ? creds : anonymous;
      return [
        push(layout, 'multi', at(registry, 'multi'), how),
        push(layout, 'single', at(registry, 'single'), how),
      ];
    }),
    push(layout, 'multi', atK8s('multi'), creds),
    push(layout, 'single', atK8s('single'), creds),
  ]);
  await Promise.all(
    ['dockerlist', 'dockersingle'].flatMap((repo) => [
      copyBetween(at(tokenSource, repo), at(openSource, repo)),
      copyBetween(at(tokenSource, repo), atK8s(repo), SOURCE_PUSHER),
    ]),
  );
  const dockerListDigest = sha256(await inspectRaw(at(tokenSource, 'dockerlist')));
  const dockerSingleDigest = sha256(await inspectRaw(at(tokenSource, 'dockersingle')));
  return { layout, index, shared, amd64, dockerListDigest, single, dockerSingleDigest, other };
}

export async function startZoo(): Promise<Zoo> {
  const [pushUser, pushPassword] = SOURCE_PUSHER.split(':') as [string, string];
  const [writeUser, writePassword] = TARGET_WRITER.split(':') as [string, string];
  const [tokenSource, openSource, target] = await Promise.all([
    startRegistry({ kind: 'token', users: { [pushUser]: pushPassword } }),
    startRegistry({ kind: 'none' }),
    startRegistry({ kind: 'token', users: { [writeUser]: writePassword }, anonymousPull: false }),
  ]);
  let images: MatrixImages;
  try {
    images = await seed(tokenSource, openSource);
  } catch (error) {
    await Promise.all([tokenSource.stop(), openSource.stop(), target.stop()]);
    throw error;
  }
  const k8sBackend = await startFront(
    { ...artifactRegistry, id: 'k8s-backend', registry: 'us-central1-docker.pkg.dev' },
    tokenSource,
  );
  const fronts = new Map<string, Front>();
  await Promise.all(
    PROFILES.map(async (profile: Profile) => {
      const backend = profile.behaviours.redirectEverything
        ? k8sBackend
        : profile.anonymous
          ? openSource
          : tokenSource;
      fronts.set(profile.id, await startFront(profile, backend));
    }),
  );
  const targetFront = await startFront({ ...artifactRegistry, id: 'target' }, target);
  const variants: Front[] = [];
  return {
    tokenSource,
    openSource,
    target,
    images,
    fronts,
    k8sBackend,
    targetFront,
    async targetVariant(overrides) {
      const front = await startFront({ ...artifactRegistry, id: 'target' }, target, { overrides });
      variants.push(front);
      return front;
    },
    async sourceVariant(id, overrides) {
      const profile = PROFILES.find((p) => p.id === id);
      if (!profile || profile.behaviours.redirectEverything) throw new Error(`no variant of ${id}`);
      const front = await startFront(profile, profile.anonymous ? openSource : tokenSource, {
        overrides,
      });
      variants.push(front);
      return front;
    },
    async stop() {
      await Promise.all(
        [...fronts.values(), k8sBackend, targetFront, ...variants].map((f) => f.close()),
      );
      await Promise.all([tokenSource.stop(), openSource.stop(), target.stop()]);
    },
  };
}

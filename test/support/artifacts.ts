// Supply-chain artifacts as their tools lay them out, pushed with plain HTTP
// (fetch, Basic or Docker token auth): a client independent of image-syncer's
// own, for manifests skopeo 1.9 will not copy (unknown layer media types,
// `subject`, `artifactType`).
//
// - cosign (sigstore docs, "Signature Specification" → Storage; cosign
//   specs/SIGNATURE_SPEC.md, ATTESTATION_SPEC.md): `sha256-<hex>.sig` is an OCI
//   image manifest whose layers are simple-signing payloads
//   (`application/vnd.dev.cosign.simplesigning.v1+json`) annotated with
//   `dev.cosignproject.cosign/signature`; `.att` layers are DSSE envelopes
//   (`application/vnd.dsse.envelope.v1+json`, annotation `predicateType`);
//   `.sbom` holds the SBOM document itself (`text/spdx+json`).
// - OCI 1.1 referrers (image-spec v1.1 manifest.md, "Guidelines for Artifact
//   Usage"): `artifactType`, an empty config `application/vnd.oci.empty.v1+json`
//   (`{}`), and `subject` naming the image.

import { createHash, randomBytes } from 'node:crypto';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const SIGSTORE_BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const SPDX = 'application/spdx+json';

export interface Pushed {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly bytes: Buffer;
  artifactType?: string;
  annotations?: Record<string, string>;
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A pusher for one registry (`http://127.0.0.1:PORT`) with `user:password`. */
export class Pusher {
  readonly #url: string;
  readonly #basic: string;
  readonly #tokens = new Map<string, string>();

  constructor(url: string, creds: string) {
    this.#url = url;
    this.#basic = `Basic ${Buffer.from(creds).toString('base64')}`;
  }

  async #fetch(repository: string, path: string, init: RequestInit): Promise<Response> {
    const url = new URL(path, this.#url);
    const token = this.#tokens.get(repository);
    let response = await fetch(url, {
      ...init,
      headers: { ...(init.headers as object), authorization: token ?? this.#basic },
    });
    const challenge = response.headers.get('www-authenticate') ?? '';
    if (response.status === 401 && challenge.startsWith('Bearer ')) {
      await response.arrayBuffer();
      const params = Object.fromEntries(
        [...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
      );
      const realm = new URL(params.realm as string);
      realm.searchParams.set('service', params.service as string);
      realm.searchParams.set('scope', `repository:${repository}:pull,push`);
      const answer = await fetch(realm, { headers: { authorization: this.#basic } });
      const body = (await answer.json()) as { token?: string; access_token?: string };
      const bearer = `Bearer ${body.token ?? body.access_token}`;
      this.#tokens.set(repository, bearer);
      response = await fetch(url, {
        ...init,
        headers: { ...(init.headers as object), authorization: bearer },
      });
    }
    return response;
  }

  async blob(repository: string, bytes: Buffer, mediaType: string): Promise<Pushed> {
    const digest = sha256(bytes);
    const start = await this.#fetch(repository, `/v2/${repository}/blobs/uploads/`, {
      method: 'POST',
    });
    await start.arrayBuffer();
    if (start.status !== 202) throw new Error(`upload start answered ${start.status}`);
    const location = new URL(start.headers.get('location') as string, this.#url);
    location.searchParams.set('digest', digest);
    const put = await this.#fetch(repository, location.pathname + location.search, {
      method: 'PUT',
      body: new Uint8Array(bytes),
      headers: { 'content-type': 'application/octet-stream' },
    });
    await put.arrayBuffer();
    if (put.status !== 201) throw new Error(`blob PUT answered ${put.status}`);
    return { mediaType, digest, size: bytes.length, bytes };
  }

  /** PUTs a manifest object under `reference` (a tag, or omitted: its digest); returns its descriptor. */
  async manifest(
    repository: string,
    body: Record<string, unknown>,
    reference?: string,
  ): Promise<Pushed & { headers: Headers }> {
    const mediaType = body.mediaType as string;
    const bytes = Buffer.from(JSON.stringify(body));
    const digest = sha256(bytes);
    const response = await this.#fetch(
      repository,
      `/v2/${repository}/manifests/${reference ?? digest}`,
      {
        method: 'PUT',
        body: new Uint8Array(bytes),
        headers: { 'content-type': mediaType },
      },
    );
    const text = await response.text();
    if (response.status !== 201)
      throw new Error(`manifest PUT answered ${response.status}: ${text}`);
    return {
      mediaType,
      digest,
      size: bytes.length,
      bytes,
      headers: response.headers,
      ...(typeof body.artifactType === 'string' && { artifactType: body.artifactType }),
      ...(body.annotations !== undefined && {
        annotations: body.annotations as Record<string, string>,
      }),
    };
  }

  /** A small OCI image (random layer) tagged `tag`. */
  async image(repository: string, tag: string): Promise<Pushed> {
    const layer = await this.blob(
      repository,
      randomBytes(2048),
      'application/vnd.oci.image.layer.v1.tar+gzip',
    );
    const config = await this.blob(
      repository,
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          rootfs: { type: 'layers', diff_ids: [layer.digest] },
        }),
      ),
      'application/vnd.oci.image.config.v1+json',
    );
    return this.manifest(
      repository,
      { schemaVersion: 2, mediaType: OCI_MANIFEST, config: strip(config), layers: [strip(layer)] },
      tag,
    );
  }

  /** cosign's `.sig`, `.att` or `.sbom` for `subject`, under cosign's tag. */
  async cosign(repository: string, subject: string, kind: 'sig' | 'att' | 'sbom'): Promise<Pushed> {
    const tag = `${subject.replace(':', '-')}.${kind}`;
    const config = await this.blob(
      repository,
      Buffer.from(
        JSON.stringify({
          architecture: '',
          os: '',
          config: {},
          rootfs: { type: 'layers', diff_ids: [] },
        }),
      ),
      'application/vnd.oci.image.config.v1+json',
    );
    let layer: Pushed;
    let annotations: Record<string, string>;
    if (kind === 'sig') {
      layer = await this.blob(
        repository,
        Buffer.from(
          JSON.stringify({
            critical: {
              identity: { 'docker-reference': repository },
              image: { 'docker-manifest-digest': subject },
              type: 'cosign container image signature',
            },
            optional: { nonce: randomBytes(4).toString('hex') },
          }),
        ),
        'application/vnd.dev.cosign.simplesigning.v1+json',
      );
      annotations = { 'dev.cosignproject.cosign/signature': randomBytes(48).toString('base64') };
    } else if (kind === 'att') {
      layer = await this.blob(
        repository,
        Buffer.from(
          JSON.stringify({
            payloadType: 'application/vnd.in-toto+json',
            payload: randomBytes(32).toString('base64'),
            signatures: [{ sig: 'MEUC' }],
          }),
        ),
        'application/vnd.dsse.envelope.v1+json',
      );
      annotations = { predicateType: 'https://slsa.dev/provenance/v1' };
    } else {
      layer = await this.blob(
        repository,
        Buffer.from(
          JSON.stringify({ spdxVersion: 'SPDX-2.3', name: randomBytes(4).toString('hex') }),
        ),
        'text/spdx+json',
      );
      annotations = {};
    }
    return this.manifest(
      repository,
      {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: strip(config),
        layers: [{ ...strip(layer), annotations }],
      },
      tag,
    );
  }

  /**
   * An OCI 1.1 artifact referring to `subject` (pushed by digest, untagged).
   * The same `nonce` gives the same bytes, so one artifact can be put in two registries.
   */
  async referrer(
    repository: string,
    subject: Pushed,
    artifactType: string,
    nonce = randomBytes(8).toString('hex'),
  ): Promise<Pushed> {
    const empty = await this.blob(repository, Buffer.from('{}'), OCI_EMPTY);
    const layer = await this.blob(
      repository,
      Buffer.from(JSON.stringify({ artifactType, nonce })),
      artifactType,
    );
    return this.manifest(repository, {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType,
      config: strip(empty),
      layers: [strip(layer)],
      subject: strip(subject),
      annotations: { 'org.opencontainers.image.created': '2026-11-28T00:00:00Z' },
    });
  }

  /** The referrers tag schema's index for `subject`, listing `referrers`. */
  async tagSchema(
    repository: string,
    subject: string,
    referrers: readonly Pushed[],
  ): Promise<Pushed> {
    return this.manifest(
      repository,
      {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: referrers.map((r) => ({
          ...strip(r),
          ...(r.artifactType && { artifactType: r.artifactType }),
          ...(r.annotations && { annotations: r.annotations }),
        })),
      },
      subject.replace(':', '-'),
    );
  }
}

export function strip(d: Pushed): { mediaType: string; digest: string; size: number } {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

// What a registry profile of the zoo can do, as data. Each profile
// (docker-hub.ts, registry-k8s.ts, …) is one table of these behaviours with
// the public document or issue each comes from; the engine (engine.ts) plays
// them in front of a real docker-registry server.

export type MountBehaviour =
  /** Passed to the registry: 201 when the blob is mountable (distribution). */
  | 'pass'
  /** Refused with 401 UNAUTHORIZED (Docker Hub, Harbor). */
  | 'refuse-401'
  /** Refused with 403 DENIED (registries in containerd/containerd#14086). */
  | 'refuse-403'
  /**
   * Not mounted: an ordinary upload session is opened instead (202), as OCI
   * distribution-spec v1.1 allows ("Mounting a blob from another repository":
   * a registry that does not mount answers 202 with the Location of a session).
   */
  | 'session-202';

export interface Behaviours {
  /**
   * Where the Bearer challenge's realm points: the registry's own origin
   * (`same`) or a token service on another host (`auth-host`: auth.docker.io,
   * gitlab.com), at `path`. Absent: the registry has no auth at all.
   */
  readonly realm?: { readonly host: 'same' | 'auth-host'; readonly path: string };
  /** The challenge names no `service` (only realm and scope), so the token request has none. */
  readonly challengeWithoutService?: boolean;
  /**
   * Blob GETs answered with a redirect to storage: on another host (a CDN or
   * bucket serving signed URLs, which refuses an Authorization header the way
   * S3 does) or on the registry's own host (Artifact Registry's
   * `/artifacts-downloads/…`).
   */
  readonly blobRedirect?: {
    readonly status: 302 | 307;
    readonly storage: 'other-host' | 'same-host';
  };
  /**
   * Every `/v2/` request, the ping included, answered with 307 to another
   * registry (archeio), the repository moved under `repositoryPrefix` there.
   */
  readonly redirectEverything?: { readonly repositoryPrefix: string };
  /** Docker Hub's pull limit: `ratelimit-*` headers, manifest GETs counted, HEADs not. */
  readonly pullLimit?: number;
  /** Chunked uploads (PATCH) refused: monolithic PUT only. */
  readonly monolithicUploadsOnly?: boolean;
  /** A tag that already points elsewhere cannot be written again (MANIFEST_INVALID). */
  readonly immutableTags?: boolean;
  readonly mount?: MountBehaviour;
  /** A tag served as a signed schema 1 manifest (old images on Docker Hub still are). */
  readonly schema1Tag?: string;
  /**
   * Manifest answers by tag with broken headers: a HEAD without
   * Docker-Content-Digest and Content-Length (the digest header is only a
   * SHOULD: OCI distribution-spec v1.1, "Checking if content exists in the
   * registry"), and a GET whose digest header came twice and was joined into
   * one comma-separated line, as HTTP lets a proxy do (RFC 9110 §5.3).
   */
  readonly brokenManifestHeaders?: boolean;
  /**
   * Manifests also known by their sha512 digest (a registered algorithm: OCI
   * image-spec descriptor.md, "Registered algorithms"), answered with the
   * registry's own sha256 Docker-Content-Digest, which "MAY differ from the
   * provided digest … the hashing algorithms used do not match" (OCI
   * distribution-spec v1.1, "Pulling manifests").
   */
  readonly sha512Manifests?: boolean;
}

export interface Profile {
  /** The logical registry, as written in images files (`docker.io`, `ghcr.io`). */
  readonly registry: string;
  /** Short name, used in target paths and test names. */
  readonly id: string;
  readonly behaviours: Behaviours;
  /** Public documents and issues the behaviours come from (also listed in the README). */
  readonly sources: readonly string[];
  /** Whether the profile sits in front of a registry without auth (else: token auth). */
  readonly anonymous?: boolean;
}

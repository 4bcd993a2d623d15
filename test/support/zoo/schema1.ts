// A signed Docker schema 1 manifest (`application/vnd.docker.distribution.
// manifest.v1+prettyjws`), the format Docker Hub still serves for images pushed
// before 2016 (the rate-limit check image `ratelimitpreview/test` is one:
// https://gist.github.com/jeversol/369009aaad4cd2cd8e2610fa68d4c4be). Docker
// and containerd stopped pulling it (moby/moby#47459, containerd/containerd#6884).
// docker-registry 2.8 no longer accepts schema 1 pushes, so the zoo serves
// this document itself for the profile's schema 1 tag.

export function schema1Manifest(name: string, tag: string): Buffer {
  const manifest = {
    schemaVersion: 1,
    name,
    tag,
    architecture: 'amd64',
    fsLayers: [
      { blobSum: 'sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4' },
    ],
    history: [
      {
        v1Compatibility:
          '{"id":"e45a5af57b00862e5ef5782a9925979a02ba2b12dff832fd0991335f4a11e5c5"}',
      },
    ],
    signatures: [
      {
        header: { jwk: { crv: 'P-256', kty: 'EC', x: 'zoo', y: 'zoo' }, alg: 'ES256' },
        signature: 'c2lnbmF0dXJl',
        protected: 'eyJmb3JtYXRMZW5ndGgiOjEyMywiZm9ybWF0VGFpbCI6IkNuMCJ9',
      },
    ],
  };
  return Buffer.from(JSON.stringify(manifest, null, 3));
}

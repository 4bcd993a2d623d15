// Images files in every form the file allows, with what Renovate's preset
// (renovate/external-images.json) must read in each and what `validate` says
// about the rest. test/integration/renovate.test.ts runs Renovate itself on
// them; test/unit/renovate-preset.test.ts checks validate's warnings.

const hex = (c: string) => c.repeat(64);
export const D1 = `sha256:${hex('1')}`;
export const D2 = `sha256:${hex('2')}`;
export const D3 = `sha256:${hex('3')}`;
export const D5 = `sha512:${'5'.repeat(128)}`;

export interface RenovateCase {
  /** Where the file goes in the repository Renovate runs on. */
  readonly path: string;
  readonly text: string;
  /** What Renovate extracts: [depName, currentValue, currentDigest?], in file order. */
  readonly reads: readonly (readonly [string, string, string?])[];
  /** validate's Renovate warnings: [line, a pattern of the message]. */
  readonly warnings: readonly (readonly [number, RegExp])[];
}

export const RENOVATE_CASES: readonly RenovateCase[] = [
  {
    path: 'block/external-images.yaml',
    text: `# Images of team A. A commented-out entry is not read:
# - source: old/image:1
targetRepoPrefix: ignored.example.com/x/
platforms:
  - linux/amd64
images:
  - source: alpine:3.20                  # plain, a Docker Hub official image
  - source: "bitnami/keycloak:26.1"      # double quotes, a Hub namespace
  - source: 'ghcr.io/org/tool:1.2'       # single quotes, a registry host
  - source: reg.example.com:5000/team/app:2.0.1
  - source: docker.io/library/busybox:1.36@${D1}
  - source: "quay.io/org/x:v1@${D5}"
  - "source": gcr.io/distroless/static:nonroot@${D2}
  - platforms:
      - linux/arm64
    source: localhost:5000/a__b/c--d:_x.y-z
    requireSignature: true
  - source :\tindex.docker.io/library/nginx:1.27
    amd64Only: true
  - {source: "registry.k8s.io/pause:3.10"}
  - source: alpine:3.20
`,
    reads: [
      ['alpine', '3.20'],
      ['bitnami/keycloak', '26.1'],
      ['ghcr.io/org/tool', '1.2'],
      ['reg.example.com:5000/team/app', '2.0.1'],
      ['docker.io/library/busybox', '1.36', D1],
      ['quay.io/org/x', 'v1', D5],
      ['gcr.io/distroless/static', 'nonroot', D2],
      ['localhost:5000/a__b/c--d', '_x.y-z'],
      ['index.docker.io/library/nginx', '1.27'],
      ['registry.k8s.io/pause', '3.10'],
      ['alpine', '3.20'],
    ],
    warnings: [],
  },
  {
    path: 'tags/external-images.yaml',
    text: `images:
- source: busybox@${D1}                    # by digest alone: left alone
  tag: "1.36.1"
- source: reg.example.com:5000/team/app@${D2}
  tag: v2
- source: nginx:1.27@${D3}
  tag: ours
- source: redis:7.4
  tag: "7.4"
`,
    reads: [
      ['nginx', '1.27', D3],
      ['redis', '7.4'],
    ],
    warnings: [
      [6, /tag: ours keeps the target tag, so its next update would conflict; drop tag: to mirror/],
      [8, /tag: 7\.4 keeps the target tag.*; drop tag: \(the target stays the same\)/],
    ],
  },
  {
    path: 'flow/external-images.yaml',
    text: `images: [{source: alpine:3.19}, {"source":"quay.io/c/d:2@${D1}"},
  {tag: "3", source: 'e/f:3'}, {source: g/h@${D2}, tag: z},
  {source: ghcr.io/a/b:1 }]
`,
    reads: [
      ['alpine', '3.19'],
      ['quay.io/c/d', '2', D1],
      ['e/f', '3'],
      ['ghcr.io/a/b', '1'],
    ],
    warnings: [[2, /tag: 3 keeps the target tag/]],
  },
  {
    path: 'json/external-images.yml',
    text: `{"images": [{"source": "alpine:3.18"}, {"source": "ghcr.io/x/y:4@${D3}"}]}`,
    reads: [
      ['alpine', '3.18'],
      ['ghcr.io/x/y', '4', D3],
    ],
    warnings: [],
  },
  {
    path: 'crlf/external-images.yml',
    text: `\uFEFF%YAML 1.2\r\n---\r\nimages:\r\n- source: alpine:3.17 # c\r\n- source: "ghcr.io/a/b:1@${D1}"\r\n- source: quay.io/x/y:2`,
    reads: [
      ['alpine', '3.17'],
      ['ghcr.io/a/b', '1', D1],
      ['quay.io/x/y', '2'],
    ],
    warnings: [],
  },
  {
    path: 'unseen/external-images.yaml',
    text: `images:
- source: alpine
- source: >-
    busybox:1.36
- source:
    nginx:1.27
- source: &redis redis:7.4
- source: !!str memcached:1.6
- source: "postgres\\u003a16"
- ? source
  : traefik:3.1
# Renovate reads a flow mapping even in a comment: {source: stray/comment:1}
`,
    reads: [['stray/comment', '1']],
    warnings: [
      [2, /reads only sources with a tag: write "alpine:latest" \(the same target\)/],
      [3, /cannot read this source: write it as one plain or quoted value/],
      [6, /cannot read this source/],
      [7, /cannot read this source/],
      [8, /cannot read this source/],
      [9, /cannot read this source/],
      [11, /cannot read this source/],
      [12, /reads "stray\/comment:1" here, which is no entry's source \(a comment\?\)/],
    ],
  },
];

/** A file the preset must not read: its name is not external-images.yaml or .yml. */
export const OTHER_FILE = { path: 'other/images.yaml', text: 'images:\n- source: alpine:3.20\n' };

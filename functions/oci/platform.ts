// Platforms as `os/arch[/variant]`: parsing what people write, reading what
// images declare, and deciding whether one satisfies the other. Pure.
//
// The OCI image index spec (image-index.md, "platform" under "manifests") says
// `os` and `architecture` SHOULD be values of Go's GOOS and GOARCH
// (https://go.dev/doc/install/source#environment, go/build/syslist.go), and
// lists the variants in use ("Platform Variants": arm v6/v7/v8, arm64 v8).
// Those lists are what a written platform is checked against: `linux/x86_64`
// is a spelling no image uses, so it is an error, never a requirement that can
// never be met.

import { SyncerError } from '../errors.ts';
import type { Descriptor } from './manifest.ts';

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** GOOS values (go/build/syslist.go). */
const KNOWN_OS = new Set([
  'aix',
  'android',
  'darwin',
  'dragonfly',
  'freebsd',
  'hurd',
  'illumos',
  'ios',
  'js',
  'linux',
  'nacl',
  'netbsd',
  'openbsd',
  'plan9',
  'solaris',
  'wasip1',
  'windows',
  'zos',
]);

/** GOARCH values (go/build/syslist.go). */
const KNOWN_ARCH = new Set([
  '386',
  'amd64',
  'amd64p32',
  'arm',
  'armbe',
  'arm64',
  'arm64be',
  'loong64',
  'mips',
  'mipsle',
  'mips64',
  'mips64le',
  'mips64p32',
  'mips64p32le',
  'ppc',
  'ppc64',
  'ppc64le',
  'riscv',
  'riscv64',
  's390',
  's390x',
  'sparc',
  'sparc64',
  'wasm',
]);

/**
 * Variants images carry: the OCI spec's arm and arm64 ones, GOAMD64 levels
 * (containerd's amd64 variants), GOARM64 revisions, and the riscv64 and
 * ppc64le profiles some indexes name.
 */
const KNOWN_VARIANTS: Readonly<Record<string, readonly string[]>> = {
  arm: ['v5', 'v6', 'v7', 'v8'],
  arm64: [
    'v8',
    ...Array.from({ length: 10 }, (_, i) => `v8.${i}`),
    'v9',
    ...Array.from({ length: 6 }, (_, i) => `v9.${i}`),
  ],
  amd64: ['v1', 'v2', 'v3', 'v4'],
  riscv64: ['rva20u64', 'rva22u64', 'rva23u64'],
  ppc64le: ['power8', 'power9', 'power10'],
};

/** What people write for a platform, and what images call it. */
const COMMON_MISSPELLINGS: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  x64: 'amd64',
  amd: 'amd64',
  aarch64: 'arm64',
  armv8: 'arm64',
  arm64v8: 'arm64',
  armhf: 'arm/v7',
  armv7: 'arm/v7',
  armv7l: 'arm/v7',
  armel: 'arm/v6',
  armv6: 'arm/v6',
  i386: '386',
  i686: '386',
  x86: '386',
  macos: 'darwin',
  osx: 'darwin',
  win: 'windows',
  ppc64el: 'ppc64le',
};

export class InvalidPlatformError extends SyncerError {
  constructor(message: string) {
    super('INVALID_PLATFORM', message);
  }
}

export function formatPlatform(platform: Platform): string {
  return `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`;
}

function suggestion(part: string, known: ReadonlySet<string>): string {
  const lower = part.toLowerCase();
  if (lower !== part && known.has(lower)) return ` (did you mean "${lower}"?)`;
  const common = COMMON_MISSPELLINGS[lower];
  return common ? ` (did you mean "${common}"?)` : '';
}

/** `linux/amd64`, `linux/arm/v7`; throws InvalidPlatformError naming what is wrong. */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    const hint = COMMON_MISSPELLINGS[text.toLowerCase()] ?? (KNOWN_ARCH.has(text) ? text : '');
    throw new InvalidPlatformError(
      `invalid platform ${JSON.stringify(text)}: expected os/arch or os/arch/variant, e.g. linux/amd64${hint ? ` (did you mean "linux/${hint}"?)` : ''}`,
    );
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  if (!KNOWN_OS.has(os)) {
    throw new InvalidPlatformError(
      `invalid platform ${JSON.stringify(text)}: unknown os "${os}"${suggestion(os, KNOWN_OS)}; expected a Go GOOS value such as linux or windows`,
    );
  }
  if (!KNOWN_ARCH.has(architecture)) {
    throw new InvalidPlatformError(
      `invalid platform ${JSON.stringify(text)}: unknown architecture "${architecture}"${suggestion(architecture, KNOWN_ARCH)}; expected a Go GOARCH value such as amd64, arm64, arm, 386, ppc64le, s390x`,
    );
  }
  if (variant !== undefined) {
    const variants = KNOWN_VARIANTS[architecture];
    if (!variants?.includes(variant)) {
      throw new InvalidPlatformError(
        `invalid platform ${JSON.stringify(text)}: unknown variant "${variant}" of ${architecture}${variants ? `; expected one of ${variants.slice(0, 6).join(', ')}${variants.length > 6 ? ', …' : ''}` : ' (it has no variants)'}`,
      );
    }
  }
  return { os, architecture, ...(variant !== undefined && { variant }) };
}

/**
 * The variant with defaults made explicit-free: containerd's platform
 * normalisation treats arm64 `v8` and amd64 `v1` as the architecture's
 * baseline, the same as no variant (containerd/platforms, Normalize).
 */
function baselineVariant(platform: Platform): string | undefined {
  const { architecture, variant } = platform;
  if (architecture === 'arm64' && (variant === 'v8' || variant === 'v8.0')) return undefined;
  if (architecture === 'amd64' && variant === 'v1') return undefined;
  return variant;
}

/**
 * Whether an image's platform meets a requirement: same os and architecture;
 * a required variant must match (baselines normalised), no required variant
 * is met by any.
 */
export function satisfies(available: Platform, required: Platform): boolean {
  if (available.os !== required.os || available.architecture !== required.architecture)
    return false;
  if (required.variant === undefined) return true;
  return baselineVariant(available) === baselineVariant(required);
}

/**
 * BuildKit's attestation manifests sit in the index as `unknown/unknown` with a
 * `vnd.docker.reference.type` annotation (docker/buildx docs, "Attestation
 * storage"): they are no platform an image runs on.
 */
export function isAttestation(descriptor: Descriptor): boolean {
  if (descriptor.annotations?.['vnd.docker.reference.type'] !== undefined) return true;
  return descriptor.platform?.os === 'unknown' && descriptor.platform?.architecture === 'unknown';
}

/** A platform from an index entry's `platform` or an image config, if it names one. */
export function platformOf(value: unknown): Platform | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.os !== 'string' || typeof v.architecture !== 'string') return undefined;
  if (v.os === '' || v.architecture === '' || v.os === 'unknown') return undefined;
  return {
    os: v.os,
    architecture: v.architecture,
    ...(typeof v.variant === 'string' && v.variant !== '' && { variant: v.variant }),
  };
}

/** Required platforms none of `available` satisfies, in the order they were required. */
export function missingPlatforms(
  required: readonly Platform[],
  available: readonly Platform[],
): Platform[] {
  return required.filter((r) => !available.some((a) => satisfies(a, r)));
}

// Every registry on the default allow-list, as a zoo profile.
import type { Profile } from '../behaviours.ts';
import { artifactRegistry } from './artifact-registry.ts';
import { dockerHub } from './docker-hub.ts';
import { ecrPublic } from './ecr-public.ts';
import { gcr } from './gcr.ts';
import { ghcr } from './ghcr.ts';
import { gitlab } from './gitlab.ts';
import { mcr } from './mcr.ts';
import { nvcr } from './nvcr.ts';
import { quay } from './quay.ts';
import { registryK8s } from './registry-k8s.ts';

export { artifactRegistry, dockerHub, ecrPublic, gcr, ghcr, gitlab, mcr, nvcr, quay, registryK8s };

export const PROFILES: readonly Profile[] = [
  dockerHub,
  registryK8s,
  ghcr,
  quay,
  gcr,
  artifactRegistry,
  mcr,
  ecrPublic,
  gitlab,
  nvcr,
];

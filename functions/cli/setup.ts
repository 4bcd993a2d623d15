// Turns CLI options into the engine's collaborators: credential chain and
// registry clients. Target credentials given by flag go to the target's host
// only; everything else comes from Docker's config.json or Google ADC.

import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.ts';
import {
  type BasicCredential,
  CredentialChain,
  DockerConfigCredentials,
  dockerConfigPath,
  GoogleCredentials,
  StaticCredentials,
} from '../registry/credentials.ts';
import { endpointFor } from '../registry/endpoint.ts';
import { Registries } from '../registry/registries.ts';
import type { Logger } from '../util/logger.ts';
import type { CliOptions } from './flags.ts';

export async function targetCredential(options: CliOptions): Promise<BasicCredential | undefined> {
  if (options.accessToken) return { username: 'oauth2accesstoken', password: options.accessToken };
  if (options.targetRepoAuthKey) {
    let key: string;
    try {
      key = await readFile(options.targetRepoAuthKey, 'utf8');
    } catch (cause) {
      throw new ConfigError(`--target-repo-auth-key: cannot read ${options.targetRepoAuthKey}`, {
        cause,
      });
    }
    return { username: '_json_key', password: key.trim() };
  }
  return undefined;
}

export async function createRegistries(
  options: CliOptions,
  logger: Logger,
  env: NodeJS.ProcessEnv,
): Promise<Registries> {
  const endpoints = options.registryEndpoints;
  const insecureRegistries = options.insecureRegistries;
  const targetHost = endpointFor(options.targetRepoPrefix.registry, {
    endpoints,
    insecureRegistries,
  }).host;
  const flagged = await targetCredential(options);
  const credentials = new CredentialChain([
    new StaticCredentials(flagged ? [[targetHost, flagged]] : []),
    new DockerConfigCredentials(dockerConfigPath(env)),
    new GoogleCredentials(),
  ]);
  return new Registries({
    credentials,
    endpoints,
    insecureRegistries,
    logger,
    policy: options.policy,
    authHosts: options.registryAuthHosts,
    throttles: options.throttles,
    retry: { maxRateLimitWaitMs: options.rateLimitWaitSeconds * 1000 },
  });
}

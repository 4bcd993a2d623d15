// Turns CLI options into the engine's collaborators: credential chain and
// registry clients. Target credentials given by flag go to the target's host
// only; everything else comes from Docker's config.json or Google ADC.

import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.ts';
import type { TargetPrefix } from '../reference/target.ts';
import {
  type BasicCredential,
  CredentialChain,
  DockerConfigCredentials,
  dockerConfigPath,
  GoogleCredentials,
  StaticCredentials,
} from '../registry/credentials.ts';
import { endpointFor, parseAuthHosts, parseEndpointFlag } from '../registry/endpoint.ts';
import type { NetworkPolicy } from '../registry/network-policy.ts';
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

/** The CLI runs on a person's own machine: everything is allowed unless they say otherwise. */
export function cliPolicy(options: CliOptions): NetworkPolicy {
  return {
    privateNetworks: options.allowPrivateNetworks,
    ...(options.allowedRegistries.length > 0 && { allowedRegistries: options.allowedRegistries }),
  };
}

export async function createRegistries(
  options: CliOptions,
  prefix: TargetPrefix,
  logger: Logger,
  env: NodeJS.ProcessEnv,
): Promise<Registries> {
  const endpoints = new Map(options.registryEndpoints.map(parseEndpointFlag));
  const insecureRegistries = options.insecureRegistries;
  const targetHost = endpointFor(prefix.registry, { endpoints, insecureRegistries }).host;
  const flagged = await targetCredential(options);
  const credentials = new CredentialChain([
    new StaticCredentials(flagged ? [[targetHost, flagged]] : []),
    new DockerConfigCredentials(dockerConfigPath(env)),
    new GoogleCredentials(),
  ]);
  const authHosts = parseAuthHosts(options.registryAuthHosts);
  return new Registries({
    credentials,
    endpoints,
    insecureRegistries,
    logger,
    policy: cliPolicy(options),
    authHosts,
    retry: { maxRateLimitWaitMs: options.rateLimitWaitSeconds * 1000 },
  });
}

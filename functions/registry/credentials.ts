// Where registry credentials come from, keyed by the host image-syncer actually
// talks to (the endpoint, not the logical registry: a mirror configured for
// docker.io never receives Docker Hub's password). Sources, in the order the
// CLI chains them: flags for the target, Docker's config.json, and Google
// Application Default Credentials for Artifact Registry and GCR.

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, SyncerError } from '../errors.ts';
import { DOCKER_HUB_ENDPOINT } from '../reference/reference.ts';

export interface BasicCredential {
  readonly username: string;
  readonly password: string;
}

export interface CredentialProvider {
  credentialFor(host: string): Promise<BasicCredential | undefined>;
}

/** Docker Hub answers at registry-1.docker.io but Docker stores its login under the v1 index URL. */
const DOCKER_HUB_KEYS = ['index.docker.io', 'docker.io', 'registry-1.docker.io'];

function hostKeys(host: string): string[] {
  return host === DOCKER_HUB_ENDPOINT || DOCKER_HUB_KEYS.includes(host) ? DOCKER_HUB_KEYS : [host];
}

/** `https://index.docker.io/v1/` → `index.docker.io`; `127.0.0.1:5000` stays. */
export function normaliseConfigKey(key: string): string {
  return key
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
}

export class StaticCredentials implements CredentialProvider {
  readonly #byHost: Map<string, BasicCredential>;

  constructor(byHost: Iterable<[string, BasicCredential]>) {
    this.#byHost = new Map([...byHost].map(([host, cred]) => [host.toLowerCase(), cred]));
  }

  async credentialFor(host: string): Promise<BasicCredential | undefined> {
    for (const key of hostKeys(host.toLowerCase())) {
      const cred = this.#byHost.get(key);
      if (cred) return cred;
    }
    return undefined;
  }
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
}

/** Reads `auths` (and runs credential helpers) from Docker's config.json. */
export class DockerConfigCredentials implements CredentialProvider {
  readonly #path: string;
  #config: Promise<DockerConfigFile | undefined> | undefined;
  /** A helper is asked once per host per run (this provider lives as long as the run's registries). */
  readonly #helperAnswers = new Map<string, Promise<BasicCredential | undefined>>();

  constructor(path = dockerConfigPath()) {
    this.#path = path;
  }

  /** A config.json given as text (a Secret Manager secret in an environment variable). */
  static fromText(text: string, label: string): DockerConfigCredentials {
    let parsed: DockerConfigFile;
    try {
      parsed = JSON.parse(text) as DockerConfigFile;
    } catch (cause) {
      throw new ConfigError(`${label}: not valid JSON in Docker's config.json form`, { cause });
    }
    if (typeof parsed !== 'object' || parsed === null)
      throw new ConfigError(`${label}: expected a JSON object with "auths"`);
    const provider = new DockerConfigCredentials(label);
    provider.#config = Promise.resolve(parsed);
    return provider;
  }

  #load(): Promise<DockerConfigFile | undefined> {
    this.#config ??= readFile(this.#path, 'utf8').then(
      (text) => {
        try {
          return JSON.parse(text) as DockerConfigFile;
        } catch (cause) {
          throw new ConfigError(`${this.#path}: not valid JSON`, { cause });
        }
      },
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw new ConfigError(`${this.#path}: cannot be read (${error.code})`, { cause: error });
      },
    );
    return this.#config;
  }

  async credentialFor(host: string): Promise<BasicCredential | undefined> {
    const config = await this.#load();
    if (!config) return undefined;
    const keys = hostKeys(host.toLowerCase());
    for (const [key, entry] of Object.entries(config.auths ?? {})) {
      if (!keys.includes(normaliseConfigKey(key))) continue;
      if (entry.auth) {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon > 0)
          return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
      }
      if (entry.username && entry.password !== undefined) {
        return { username: entry.username, password: entry.password };
      }
    }
    const helper =
      Object.entries(config.credHelpers ?? {}).find(([key]) =>
        keys.includes(normaliseConfigKey(key)),
      )?.[1] ?? config.credsStore;
    if (!helper) return undefined;
    const key = `${helper} ${host.toLowerCase()}`;
    let answer = this.#helperAnswers.get(key);
    if (!answer) {
      answer = runCredentialHelper(helper, host);
      this.#helperAnswers.set(key, answer);
    }
    return answer;
  }
}

/** A credential helper that failed: named, with what went wrong, never with what it printed. */
export class CredentialHelperError extends SyncerError {
  readonly helper: string;

  constructor(helper: string, host: string, reason: string, cause?: unknown) {
    super(
      'CREDENTIAL_HELPER_FAILED',
      `credential helper docker-credential-${helper} failed for ${host}: ${reason}`,
      { cause },
    );
    this.helper = helper;
  }
}

/** What helpers print for a host they hold nothing for (docker-credential-helpers' ErrCredentialsNotFound). */
const NOT_FOUND = /credentials not found/i;

/**
 * The docker-credential-helpers protocol: `get`, the server URL on stdin,
 * `{Username, Secret}` on stdout; "credentials not found" means none. Every
 * other failure (missing binary, non-zero exit, timeout, a helper that exits
 * before reading stdin (EPIPE), output that is not the JSON expected) is an
 * error naming the helper. Stdout is never quoted: it may hold a secret.
 */
function runCredentialHelper(helper: string, host: string): Promise<BasicCredential | undefined> {
  return new Promise((resolve, reject) => {
    let stdinError: NodeJS.ErrnoException | undefined;
    const child = execFile(
      `docker-credential-${helper}`,
      ['get'],
      { timeout: 10_000 },
      (error, stdout) => {
        if (error) {
          if (NOT_FOUND.test(stdout)) return resolve(undefined);
          const code = (error as NodeJS.ErrnoException).code;
          const reason =
            code === 'ENOENT'
              ? 'not found on PATH'
              : error.killed
                ? 'timed out after 10 s'
                : `exited with status ${String(code ?? error.signal)}`;
          return reject(new CredentialHelperError(helper, host, reason, error));
        }
        if (stdinError) {
          return reject(
            new CredentialHelperError(helper, host, `stdin: ${stdinError.code}`, stdinError),
          );
        }
        let parsed: { Username?: unknown; Secret?: unknown };
        try {
          parsed = JSON.parse(stdout);
        } catch (cause) {
          if (NOT_FOUND.test(stdout)) return resolve(undefined);
          return reject(new CredentialHelperError(helper, host, 'did not answer JSON', cause));
        }
        if (typeof parsed?.Secret !== 'string') {
          return reject(new CredentialHelperError(helper, host, 'answered without a Secret'));
        }
        if (parsed.Secret === '') return resolve(undefined);
        resolve({
          username: typeof parsed.Username === 'string' ? parsed.Username : '',
          password: parsed.Secret,
        });
      },
    );
    // A helper that exits before reading its stdin makes this write fail with
    // EPIPE; unhandled, that error would crash the process.
    child.stdin?.on('error', (error: NodeJS.ErrnoException) => {
      stdinError = error;
    });
    child.stdin?.end(host);
  });
}

const GOOGLE_REGISTRY = /(^|\.)gcr\.io$|(^|\.)pkg\.dev$/;

export function isGoogleRegistry(host: string): boolean {
  return GOOGLE_REGISTRY.test(host.replace(/:\d+$/, '').toLowerCase());
}

/**
 * Application Default Credentials for Artifact Registry and GCR: the registry
 * takes an OAuth access token as the password of the user `oauth2accesstoken`.
 */
export interface AccessTokenSource {
  getAccessToken(): Promise<string | null | undefined>;
}

export class GoogleCredentials implements CredentialProvider {
  #auth: Promise<AccessTokenSource> | undefined;

  /** `auth` replaces ADC (tests; callers holding their own GoogleAuth). */
  constructor(auth?: AccessTokenSource) {
    if (auth) this.#auth = Promise.resolve(auth);
  }

  async credentialFor(host: string): Promise<BasicCredential | undefined> {
    if (!isGoogleRegistry(host)) return undefined;
    this.#auth ??= import('google-auth-library').then(
      ({ GoogleAuth }) =>
        new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] }),
    );
    try {
      const auth = await this.#auth;
      const token = await auth?.getAccessToken();
      return token ? { username: 'oauth2accesstoken', password: token } : undefined;
    } catch {
      // No ADC on this machine: public gcr.io images still pull anonymously, and
      // a write to Artifact Registry fails with the registry's own 401/403.
      return undefined;
    }
  }
}

/** The first provider that knows the host wins. */
export class CredentialChain implements CredentialProvider {
  readonly #providers: readonly CredentialProvider[];

  constructor(providers: readonly CredentialProvider[]) {
    this.#providers = providers;
  }

  async credentialFor(host: string): Promise<BasicCredential | undefined> {
    for (const provider of this.#providers) {
      const cred = await provider.credentialFor(host);
      if (cred) return cred;
    }
    return undefined;
  }
}

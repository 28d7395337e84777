import type { OptionSpec, OptionValues } from '../cli/command.js';
import { str, strs } from '../cli/command.js';
import { RegistryClient } from './client.js';
import { DockerConfigCredentials } from './credentials.js';

/** The flags every registry command takes. */
export const registryOptions: Record<string, OptionSpec> = {
  'insecure-registry': {
    type: 'string',
    multiple: true,
    placeholder: 'HOST[:PORT]',
    description: 'Use plain HTTP for this registry (loopback always is); also TSBUILD_INSECURE_REGISTRIES=a,b',
  },
  'ca-cert': { type: 'string', placeholder: 'FILE', description: 'Extra PEM CA bundle to trust for TLS registries (also TSBUILD_CA_CERT)' },
};

/** A client configured from the command line and environment, with docker's credentials. */
export function clientFromOptions(options: OptionValues, env: NodeJS.ProcessEnv, extra: { retries?: number } = {}): { client: RegistryClient; credentials: DockerConfigCredentials } {
  const insecure = [...strs(options, 'insecure-registry'), ...(env.TSBUILD_INSECURE_REGISTRIES ?? '').split(',')].map((s) => s.trim()).filter(Boolean);
  const caFile = str(options, 'ca-cert') ?? env.TSBUILD_CA_CERT;
  const credentials = new DockerConfigCredentials({ env });
  const client = new RegistryClient({
    credentials,
    transportOptions: { insecureRegistries: insecure, ...(caFile ? { caFile } : {}), ...(extra.retries !== undefined ? { retries: extra.retries } : {}) },
  });
  return { client, credentials };
}

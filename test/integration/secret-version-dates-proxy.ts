/**
 * A proxy that makes ListSecretVersionIds report when each version was created, as AWS does.
 *
 * moto 5.2.1 answers every version's CreatedDate with the time of the call (secretsmanager/models.py
 * list_secret_version_ids), so no pending version ever looks old and the watchdog could never tell a
 * failed rotation from a running one. This proxy forwards every call to `upstream` (the fault proxy or
 * moto) and rewrites only that answer, with each version's real creation time (GetSecretValue by
 * VersionId reports it, to the second).
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { forwardToUpstream } from '../support/aws-proxy';

export interface SecretVersionDatesProxy {
  readonly endpoint: string;
  stop(): Promise<void>;
}

const LIST_VERSIONS_TARGET = 'secretsmanager.ListSecretVersionIds';

export async function startSecretVersionDatesProxy(opts: { upstream: string; sm: SecretsManagerClient }): Promise<SecretVersionDatesProxy> {
  const upstream = new URL(opts.upstream);

  const withCreationDates = async (body: string): Promise<string> => {
    const out = JSON.parse(body) as { ARN?: string; Versions?: Array<{ VersionId?: string; CreatedDate?: number }> };
    for (const v of out.Versions ?? []) {
      try {
        const got = await opts.sm.send(new GetSecretValueCommand({ SecretId: out.ARN, VersionId: v.VersionId }));
        if (got.CreatedDate !== undefined) v.CreatedDate = got.CreatedDate.getTime() / 1000;
      } catch {
        // keep moto's date
      }
    }
    return JSON.stringify(out);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rewrite = req.headers['x-amz-target'] === LIST_VERSIONS_TARGET ? withCreationDates : undefined;
      forwardToUpstream(req, Buffer.concat(chunks), res, upstream, rewrite);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

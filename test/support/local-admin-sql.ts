/**
 * SQL run as DSQL's admin through the local endpoint, as an operator would: with an admin token
 * (DbConnectAdmin) signed by an identity of its own, so the endpoint's checks apply. Used by the local
 * stack to grant a custom role to the signer before a test, as an admin does before a deploy.
 */
import { randomBytes } from 'crypto';
import { DsqlSigner } from '@aws-sdk/dsql-signer';
import { Client } from 'pg';
import type { LocalDsqlEndpoint } from './local-dsql-endpoint';
import type { SigningCredentials } from './sigv4-presign-verify';

/** The IAM identity the operator's admin sessions belong to. */
export const LOCAL_ADMIN_ARN = 'arn:aws:iam::123456789012:role/local-dsql-admin';

export interface AdminSqlTarget {
  readonly endpoint: LocalDsqlEndpoint;
  readonly region: string;
  /** Credentials the endpoint accepts, by access key id: a one-off admin key is added, then removed. */
  readonly knownCredentials: Map<string, SigningCredentials>;
  /** IAM ARNs of access keys, as the endpoint looks them up. */
  readonly identityArns: Map<string, string>;
}

/** Runs each statement in turn (simple queries), in one admin session; returns each result's rows. */
export async function runAsAdmin(target: AdminSqlTarget, statements: string[]): Promise<Array<Array<Record<string, unknown>>>> {
  const accessKeyId = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(30).toString('base64');
  target.knownCredentials.set(accessKeyId, { secretAccessKey });
  target.identityArns.set(accessKeyId, LOCAL_ADMIN_ARN);
  const signer = new DsqlSigner({ hostname: target.endpoint.host, region: target.region, credentials: { accessKeyId, secretAccessKey } });
  const client = new Client({
    host: '127.0.0.1',
    port: target.endpoint.port,
    user: 'admin',
    password: await signer.getDbConnectAdminAuthToken(),
    database: 'postgres',
    ssl: { ca: target.endpoint.caPem, servername: target.endpoint.host, rejectUnauthorized: true },
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const rows = [];
    for (const sql of statements) rows.push((await client.query(sql)).rows);
    return rows;
  } finally {
    await client.end().catch(() => undefined);
    target.knownCredentials.delete(accessKeyId);
    target.identityArns.delete(accessKeyId);
  }
}

/** What an admin runs so that `arn` may log in as `role`: the role if missing, the mapping if missing. */
export async function grantRoleTo(target: AdminSqlTarget, role: string, arn: string): Promise<void> {
  const [mapped] = await runAsAdmin(target, [
    `SELECT 1 FROM sys.iam_pg_role_mappings WHERE pg_role_name = '${role}' AND arn = '${arn}'`,
    `DO $$ BEGIN CREATE ROLE ${role} WITH LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
  ]);
  if (mapped.length === 0) await runAsAdmin(target, [`AWS IAM GRANT ${role} TO '${arn}'`]);
}

/**
 * Records every AWS call a client makes, for the least-privilege test (test/iam/): a pass-through proxy put
 * in front of whatever endpoint the client used (the fault proxy, the CodeDeploy model, the RotateSecret
 * interceptor) writes down who called (by the access key in the SigV4 Authorization header: each caller
 * gets its own key), the IAM action, and the resources and condition keys IAM would evaluate (see
 * test/iam/request-resources.ts). Request bodies are read for identifiers only and never stored: no token,
 * URL, secret value or key reaches a record.
 */
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as path from 'path';
import { authorizationOf, NO_PERMISSION_NEEDED, RequestScope } from '../iam/request-resources';
import { forwardToUpstream } from './aws-proxy';

export interface CallRecord {
  /** Who made the call: a name given to `identify` (e.g. `rotation`, `watchdog`, `cli`), or `unknown`. */
  readonly caller: string;
  /** `service:Action` as IAM names it, e.g. `secretsmanager:PutSecretValue`. */
  readonly action: string;
  /** Resource ARNs IAM checks, one check each (`*` for actions without resource-level permissions). */
  readonly resources: string[];
  /** Condition keys the request sets. */
  readonly context: Record<string, string | string[]>;
  /** Set for a check AWS makes on the caller's behalf, e.g. lambda:InvokeFunction for RotateSecret. */
  readonly derivedFrom?: string;
  /** Why no resources could be derived: the test fails on it. */
  readonly error?: string;
  /** HTTP status of the answer (0: none yet, e.g. a call still stalled). */
  status: number;
}

export interface CallRecorderOptions extends Omit<RequestScope, 'deploymentGroupOf'> {
  /** The rotation function's ARN: Secrets Manager invokes it for a RotateSecret with the caller's permissions. */
  readonly rotationFunctionArn: string;
}

const LAMBDA_PATH = /^\/2015-03-31\/functions\/([^/]+)(?:\/(configuration|versions|invocations|aliases)(?:\/([^/]+))?)?$/;
const LAMBDA_ACTIONS: Record<string, string> = {
  'GET configuration': 'GetFunctionConfiguration',
  'PUT configuration': 'UpdateFunctionConfiguration',
  'POST versions': 'PublishVersion',
  'GET aliases': 'GetAlias',
  'PUT aliases': 'UpdateAlias',
  'POST invocations': 'InvokeFunction',
  'GET ': 'GetFunction',
};

/** The access key id and signing service of a SigV4 Authorization header. */
export function credentialScope(authorization: string): { accessKeyId: string; service: string } | undefined {
  const m = /Credential=([^/]+)\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(authorization);
  return m ? { accessKeyId: m[1], service: m[2] } : undefined;
}

/** The IAM action (`service:Action`) and the identifiers of one request, by its protocol. */
export function parseRequest(service: string, method: string, url: string, headers: http.IncomingHttpHeaders, body: string) {
  const target = String(headers['x-amz-target'] ?? '');
  if (target !== '') return { action: `${service}:${target.slice(target.lastIndexOf('.') + 1)}`, input: JSON.parse(body || '{}') };
  const u = new URL(url, 'http://local');
  const form = new URLSearchParams(String(headers['content-type']).includes('x-www-form-urlencoded') ? body : '');
  const queryAction = form.get('Action') ?? u.searchParams.get('Action');
  if (queryAction !== null) return { action: `${service}:${queryAction}`, input: Object.fromEntries([...u.searchParams, ...form]) };
  const fn = LAMBDA_PATH.exec(u.pathname);
  if (service === 'lambda' && fn !== null) {
    const op = LAMBDA_ACTIONS[`${method} ${fn[2] ?? ''}`];
    if (op === undefined) throw new Error(`unmodelled Lambda request ${method} ${u.pathname}`);
    const input = { FunctionName: fn[1], Qualifier: u.searchParams.get('Qualifier') ?? undefined, Name: fn[3] };
    return { action: `lambda:${op}`, input };
  }
  const cluster = /^\/cluster\/([^/]+)$/.exec(u.pathname);
  if (service === 'dsql' && method === 'GET' && cluster !== null) return { action: 'dsql:GetCluster', input: { identifier: cluster[1] } };
  throw new Error(`unmodelled ${service} request ${method} ${u.pathname}`);
}

export class CallRecorder {
  readonly records: CallRecord[] = [];
  private readonly callers = new Map<string, string>();
  private readonly groups = new Map<string, string>();
  private readonly servers: http.Server[] = [];
  private readonly scope: RequestScope;

  constructor(private readonly opts: CallRecorderOptions) {
    this.scope = { ...opts, deploymentGroupOf: (id) => this.groups.get(id) };
  }

  /** Calls signed with `accessKeyId` are `caller`'s. */
  identify(accessKeyId: string, caller: string): void {
    this.callers.set(accessKeyId, caller);
  }

  callerOf(accessKeyId: string): string {
    return this.callers.get(accessKeyId) ?? 'unknown';
  }

  /** A check made outside the AWS API, e.g. a DSQL connection authenticated with `caller`'s token. */
  recordCheck(caller: string, action: string, resource: string): void {
    this.records.push({ caller, action, resources: [resource], context: { 'aws:RequestedRegion': this.opts.region }, status: 200 });
  }

  /** Starts a proxy that records each call and forwards it to `upstream`; returns its endpoint. */
  async front(upstream: string): Promise<string> {
    const target = new URL(upstream);
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const record = this.record(req, body.toString('utf8'));
        res.on('finish', () => {
          if (record) record.status = res.statusCode;
        });
        const learn = record?.action === 'codedeploy:CreateDeployment' || record?.action === 'codedeploy:ListDeployments';
        forwardToUpstream(req, body, res, target, learn ? (text) => this.learnDeployments(record!, text) : undefined);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Writes the records as JSON lines to `file` (its directory created). */
  write(file: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, this.records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.closeAllConnections();
            s.close(() => resolve());
          }),
      ),
    );
  }

  private record(req: http.IncomingMessage, body: string): CallRecord | undefined {
    const scope = credentialScope(String(req.headers.authorization ?? ''));
    const caller = scope ? this.callerOf(scope.accessKeyId) : 'unsigned';
    let action = `${scope?.service ?? 'unknown'}:?`;
    try {
      const parsed = parseRequest(scope?.service ?? 'unknown', req.method ?? 'GET', req.url ?? '/', req.headers, body);
      action = parsed.action;
      if (NO_PERMISSION_NEEDED.has(action)) return undefined;
      const auth = authorizationOf(action, parsed.input as Record<string, unknown>, this.scope);
      const record: CallRecord = { caller, action, ...auth, status: 0 };
      this.records.push(record);
      if (action === 'secretsmanager:RotateSecret') {
        // RotateSecret API reference: the caller also needs lambda:InvokeFunction on the rotation function.
        const invoke = { resources: [this.opts.rotationFunctionArn], context: { 'aws:RequestedRegion': this.opts.region } };
        this.records.push({ caller, action: 'lambda:InvokeFunction', ...invoke, derivedFrom: action, status: 200 });
      }
      return record;
    } catch (err) {
      const record: CallRecord = { caller, action, resources: [], context: {}, error: (err as Error).message, status: 0 };
      this.records.push(record);
      return record;
    }
  }

  /** Which deployment group each deployment id belongs to, from CreateDeployment's and ListDeployments' answers. */
  private learnDeployments(record: CallRecord, text: string): string {
    const answer = JSON.parse(text) as { deploymentId?: string; deployments?: string[] };
    for (const id of [answer.deploymentId, ...(answer.deployments ?? [])]) if (id) this.groups.set(id, record.resources[0]);
    return text;
  }
}

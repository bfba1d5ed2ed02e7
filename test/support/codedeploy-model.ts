/**
 * A proxy in front of moto (or the fault proxy) that answers as AWS does where moto 5.2.1's ECS and
 * CodeDeploy differ for services with the CODE_DEPLOY deployment controller:
 *
 * - UpdateService with forceNewDeployment or a new task definition on a CODE_DEPLOY service: AWS
 *   refuses it (InvalidParameterException, CODE_DEPLOY_UPDATE_REFUSED; boto3#1936,
 *   terraform-provider-aws#13473); moto accepts it and rewrites the service's deployment. Refused
 *   here, without forwarding.
 * - ListDeployments: moto ignores createTimeRange (codedeploy/models.py list_deployments); the ids
 *   it answers are filtered here by each deployment's createTime (and by status, see below).
 * - GetDeployment and BatchGetDeployments: moto writes createTime, startTime and completeTime as
 *   ISO strings, which the SDK cannot parse (AWS sends epoch seconds); rewritten to epoch seconds.
 * - Deployment status: moto leaves every deployment `Created` forever (it runs none). `finish(id)`
 *   gives one its end status, which every answer then reports.
 * - CreateDeployment while the group has an active deployment: AWS refuses it
 *   (DeploymentLimitExceededException, one at a time per group); moto creates it. Refused here.
 *
 * Every other call is forwarded unchanged. The ECS client and the raw CodeDeploy calls it makes
 * for its answers go to moto directly.
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { DescribeServicesCommand, ECSClient } from '@aws-sdk/client-ecs';
import { answerAwsError, forwardToUpstream, operationOf } from './aws-proxy';
import { MotoServer } from './moto-server';

export const CODE_DEPLOY_UPDATE_REFUSED =
  'Unable to update task definition on services with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy to trigger a new deployment.';

export interface CodeDeployModel {
  readonly endpoint: string;
  /** UpdateService calls refused because the service uses CODE_DEPLOY, by service as the call named it. */
  readonly refusedUpdates: string[];
  /** Ends a deployment as CodeDeploy would once it is done (Succeeded by default). */
  finish(deploymentId: string, status?: 'Succeeded' | 'Failed' | 'Stopped'): void;
  stop(): Promise<void>;
}

const CODEDEPLOY_TARGET = 'CodeDeploy_20141006.';
const ECS_TARGET = 'AmazonEC2ContainerServiceV20141113.';
const TIME_FIELDS = ['createTime', 'startTime', 'completeTime'] as const;
const ENDED = new Set(['Succeeded', 'Failed', 'Stopped']);

export async function startCodeDeployModel(opts: { upstream: string; moto: MotoServer }): Promise<CodeDeployModel> {
  const upstream = new URL(opts.upstream);
  const ecs = new ECSClient(opts.moto.clientConfig());
  const refusedUpdates: string[] = [];
  const ended = new Map<string, string>();

  /** A CodeDeploy call straight to moto, its answer as moto wrote it (the SDK cannot parse moto's times). */
  const motoCodeDeploy = async (operation: string, input: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(opts.moto.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': `${CODEDEPLOY_TARGET}${operation}`,
        // moto reads the region from the credential scope; it checks no signature.
        authorization: `AWS4-HMAC-SHA256 Credential=testing/20300101/${opts.moto.region}/codedeploy/aws4_request, Signature=x`,
      },
      body: JSON.stringify(input),
    });
    if (!res.ok) throw new Error(`moto ${operation}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };

  /** A deployment as AWS would report it: its end status once finished, times in epoch seconds. */
  const asAws = (deployment: Record<string, unknown>) => {
    const status = ended.get(String(deployment.deploymentId));
    if (status !== undefined) deployment.status = status;
    for (const field of TIME_FIELDS) {
      const value = deployment[field];
      if (typeof value === 'string') deployment[field] = Date.parse(value) / 1000;
    }
    return deployment;
  };
  const deployment = async (id: string) =>
    asAws((await motoCodeDeploy('GetDeployment', { deploymentId: id })).deploymentInfo as Record<string, unknown>) as {
      deploymentId: string;
      status: string;
      createTime: number;
    };

  /** AWS's refusal of the call, or undefined to forward it. */
  const refusal = async (target: string, body: string): Promise<{ type: string; message: string } | undefined> => {
    if (target === `${ECS_TARGET}UpdateService`) {
      const input = JSON.parse(body) as { cluster?: string; service?: string; forceNewDeployment?: boolean; taskDefinition?: string };
      if (!input.forceNewDeployment && input.taskDefinition === undefined) return undefined;
      const out = await ecs.send(new DescribeServicesCommand({ cluster: input.cluster, services: [input.service!] }));
      if (out.services?.[0]?.deploymentController?.type !== 'CODE_DEPLOY') return undefined;
      refusedUpdates.push(input.service!);
      return { type: 'InvalidParameterException', message: CODE_DEPLOY_UPDATE_REFUSED };
    }
    if (target === `${CODEDEPLOY_TARGET}CreateDeployment`) {
      const input = JSON.parse(body) as { applicationName?: string; deploymentGroupName?: string };
      const listed = await motoCodeDeploy('ListDeployments', input);
      for (const id of (listed.deployments as string[] | undefined) ?? []) {
        if (ENDED.has((await deployment(id)).status)) continue;
        return {
          type: 'DeploymentLimitExceededException',
          message: `The Deployment Group '${input.deploymentGroupName}' already has an active Deployment '${id}'`,
        };
      }
    }
    return undefined;
  };

  const rewrites: Record<string, (text: string, request: string) => Promise<string>> = {
    GetDeployment: async (text) => {
      const out = JSON.parse(text) as { deploymentInfo?: Record<string, unknown> };
      if (out.deploymentInfo) asAws(out.deploymentInfo);
      return JSON.stringify(out);
    },
    BatchGetDeployments: async (text) => {
      const out = JSON.parse(text) as { deploymentsInfo?: Array<Record<string, unknown>> };
      for (const d of out.deploymentsInfo ?? []) asAws(d);
      return JSON.stringify(out);
    },
    // Forwarded without its status filter (moto would apply it to its own statuses): both filters are applied here.
    ListDeployments: async (text, request) => {
      const input = JSON.parse(request) as { includeOnlyStatuses?: string[]; createTimeRange?: { start?: number; end?: number } };
      const range = input.createTimeRange ?? {};
      const kept: string[] = [];
      for (const id of (JSON.parse(text) as { deployments?: string[] }).deployments ?? []) {
        const d = await deployment(id);
        if (range.start !== undefined && d.createTime < range.start) continue;
        if (range.end !== undefined && d.createTime > range.end) continue;
        if (input.includeOnlyStatuses !== undefined && !input.includeOnlyStatuses.includes(d.status)) continue;
        kept.push(id);
      }
      return JSON.stringify({ deployments: kept });
    },
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const request = body.toString('utf8');
      const target = String(req.headers['x-amz-target'] ?? '');
      try {
        const refused = await refusal(target, request);
        if (refused !== undefined) {
          answerAwsError(res, 400, refused.type, refused.message);
          return;
        }
      } catch (err) {
        answerAwsError(res, 500, 'InternalServiceError', `local CodeDeploy model: ${(err as Error).message}`);
        return;
      }
      const operation = operationOf(req);
      const rewrite = target.startsWith(CODEDEPLOY_TARGET) ? rewrites[operation] : undefined;
      let forwarded = body;
      if (target === `${CODEDEPLOY_TARGET}ListDeployments`) {
        const { includeOnlyStatuses: _statuses, createTimeRange: _range, ...rest } = JSON.parse(request) as Record<string, unknown>;
        forwarded = Buffer.from(JSON.stringify(rest));
        req.headers['content-length'] = String(forwarded.length);
      }
      forwardToUpstream(req, forwarded, res, upstream, rewrite && ((text) => rewrite(text, request)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    refusedUpdates,
    finish: (deploymentId, status = 'Succeeded') => {
      ended.set(deploymentId, status);
    },
    stop: () =>
      new Promise((resolve) => {
        ecs.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** ECS service ARNs and deployments, as the rotation function and the CLI both read them. Pure. */

export interface ServiceArnParts {
  readonly region: string;
  readonly account: string;
  readonly cluster: string;
  readonly name: string;
}

/** `arn:<partition>:ecs:<region>:<account>:service/<cluster>/<service>`; undefined for anything else (the old short format). */
export function parseServiceArn(arn: string): ServiceArnParts | undefined {
  const fields = arn.split(':');
  if (fields[0] !== 'arn' || fields[2] !== 'ecs' || fields.length < 6) return undefined;
  const parts = fields.slice(5).join(':').split('/');
  if (parts[0] !== 'service' || parts.length !== 3 || !parts[1] || !parts[2]) return undefined;
  return { region: fields[3], account: fields[4], cluster: parts[1], name: parts[2] };
}

export const LONG_ARN_FORMAT = 'an ECS service ARN in the long format (service/<cluster>/<service>)';

/** The cluster name of a service ARN; throws for anything that is not a long-format service ARN. */
export function clusterOf(serviceArn: string): string {
  const parts = parseServiceArn(serviceArn);
  if (parts === undefined) throw new Error(`'${serviceArn}' is not ${LONG_ARN_FORMAT}`);
  return parts.cluster;
}

/** DescribeServices takes at most 10 services per call, all of one cluster. */
export const DESCRIBE_SERVICES_BATCH = 10;

export interface DescribeBatches {
  readonly batches: ReadonlyArray<{ readonly cluster: string; readonly arns: readonly string[] }>;
  /** ARNs that are not long-format service ARNs: no call can describe them. */
  readonly invalid: readonly string[];
}

/** Groups service ARNs into DescribeServices calls: by cluster, at most 10 each, in the order given. */
export function describeBatches(serviceArns: readonly string[]): DescribeBatches {
  const byCluster = new Map<string, string[]>();
  const invalid: string[] = [];
  for (const arn of serviceArns) {
    const parts = parseServiceArn(arn);
    if (parts === undefined) {
      invalid.push(arn);
      continue;
    }
    byCluster.set(parts.cluster, [...(byCluster.get(parts.cluster) ?? []), arn]);
  }
  const batches: Array<{ cluster: string; arns: string[] }> = [];
  for (const [cluster, arns] of byCluster) {
    for (let i = 0; i < arns.length; i += DESCRIBE_SERVICES_BATCH)
      batches.push({ cluster, arns: arns.slice(i, i + DESCRIBE_SERVICES_BATCH) });
  }
  return { batches, invalid };
}

/**
 * Whether a deployment started after the promotion, so that its tasks read
 * the new value. One rule for the rotation function (a retry skips such a
 * service) and the CLI (it follows such a deployment): ECS's createdAt at or
 * after the promoted tag's time, no tolerance. The function writes the tag
 * before it calls UpdateService, so its own deployments compare after it
 * unless ECS's clock is behind Lambda's by more than the call's latency; then
 * a retry redeploys once more, which is safe, where a tolerance could skip a
 * deployment whose first tasks read the old value. Unknown createdAt: false.
 */
export function startedAfterPromotion(createdAt: Date | undefined, promotedAt: Date): boolean {
  return createdAt !== undefined && createdAt.getTime() >= promotedAt.getTime();
}

import { DSQLClient, GetClusterCommand } from '@aws-sdk/client-dsql';
import { log } from './log';

/**
 * Whether the first rotation can start against a cluster in this status:
 * - `wait`: the cluster exists but accepts no connection yet. CREATING ends on
 *   its own; PENDING_SETUP is a multi-region peered cluster whose peer is not
 *   linked yet, and stays so until someone links it.
 * - `refuse`: the cluster is going or gone, so no rotation can ever succeed.
 * - `ready`: anything else, including a status this code does not know: the
 *   rotation itself then tells (testSecret connects), so a new status never
 *   blocks a deployment.
 */
export function clusterReadiness(status: string | undefined): 'ready' | 'wait' | 'refuse' {
  switch (status) {
    case 'CREATING':
    case 'PENDING_SETUP':
      return 'wait';
    case 'DELETING':
    case 'DELETED':
    case 'PENDING_DELETE':
    case 'FAILED':
      return 'refuse';
    default:
      return 'ready';
  }
}

export interface ClusterWait {
  readonly dsql: DSQLClient;
  readonly identifier: string;
  readonly region: string;
  /** The secret whose first rotation waits (named in the messages). */
  readonly secretArn: string;
  /** Milliseconds since the epoch after which waiting fails. */
  readonly deadline: number;
  readonly startedAt: number;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly pollIntervalMs: number;
}

/**
 * Waits until the cluster can take connections, so that a peered cluster
 * waiting for its peer fails the deployment with its state and the fix, not
 * with a rotation's connection error. Throws when the cluster is gone, does
 * not exist, or is still not ready at the deadline. A GetCluster that fails
 * otherwise (e.g. denied by an SCP) is logged and not waited on: this check
 * helps, the rotation decides.
 */
export async function waitForCluster(w: ClusterWait): Promise<void> {
  const fields = { secretArn: w.secretArn, clusterIdentifier: w.identifier, clusterRegion: w.region };
  let logged: string | undefined;
  for (;;) {
    let status: string | undefined;
    try {
      status = (await w.dsql.send(new GetClusterCommand({ identifier: w.identifier }))).status;
    } catch (err) {
      const e = err as { name?: string; message?: string };
      if (e.name === 'ResourceNotFoundException') {
        throw new Error(
          `Aurora DSQL cluster ${w.identifier} does not exist in ${w.region}, so the first rotation of secret ${w.secretArn} ` +
            "was not started: the DsqlUrlSecret's cluster prop must name a cluster of this stack's account and region",
        );
      }
      log.warn('initial rotation: could not read the cluster status; starting the rotation anyway', {
        ...fields,
        error: `${e.name ?? 'Error'}: ${e.message ?? String(err)}`,
      });
      return;
    }
    const readiness = clusterReadiness(status);
    if (readiness === 'ready') {
      if (logged !== undefined) log.info('initial rotation: the cluster is ready', { ...fields, status, seconds: waited(w) });
      return;
    }
    if (readiness === 'refuse') {
      throw new Error(
        `Aurora DSQL cluster ${w.identifier} (${w.region}) is ${status}: it accepts no connection and never will, so the first ` +
          `rotation of secret ${w.secretArn} was not started. Point the DsqlUrlSecret's cluster prop at a cluster that is ACTIVE`,
      );
    }
    if (logged !== status) {
      log.info('initial rotation: waiting for the cluster to accept connections before rotating', { ...fields, status });
      logged = status;
    }
    const left = w.deadline - w.now();
    if (left <= 0) throw new Error(notReadyMessage(w, status!));
    await w.sleep(Math.min(w.pollIntervalMs, left));
  }
}

const waited = (w: ClusterWait) => Math.round((w.now() - w.startedAt) / 1000);

function notReadyMessage(w: ClusterWait, status: string): string {
  const head =
    `Aurora DSQL cluster ${w.identifier} (${w.region}) was still ${status} after ${waited(w)} s, so the first rotation of ` +
    `secret ${w.secretArn} was not started: the cluster accepts no connection in that state. `;
  if (status === 'PENDING_SETUP') {
    return (
      head +
      "A multi-region peered cluster stays PENDING_SETUP until its peer is linked. Fix: link the peer (the other region's " +
      "cluster lists this cluster's ARN in multiRegionProperties.clusters, this one lists the peer's, both with the same " +
      'witnessRegion), then deploy again; or deploy both clusters and their peering before the stacks that hold the ' +
      "DsqlUrlSecret constructs (one per region, each with its own region's cluster)"
    );
  }
  return head + 'Deploy again once the cluster is ACTIVE (aws dsql get-cluster --identifier ' + w.identifier + ')';
}

/**
 * Plays the Secrets Manager rotation service against moto, which cannot invoke Lambdas here (no Docker).
 *
 * What real Secrets Manager does on RotateSecret, and how it is reproduced:
 *  1. refuse if AWSPENDING sits on a version other than AWSCURRENT ("previous rotation isn't complete");
 *     moto does not check this (it silently moves AWSPENDING), so we check first;
 *  2. stage a new version id (the ClientRequestToken) with AWSPENDING and no value; see stageNewVersion;
 *  3. invoke createSecret, setSecret, testSecret, finishSecret with that token; if one throws, retry the
 *     whole sequence with the SAME token (AWS retries the same rotation);
 *  4. after finishSecret, drop AWSPENDING from the now-AWSCURRENT version (moto does not, and would then
 *     refuse the next RotateSecret with "Previous rotation request is still in progress").
 */
import { randomUUID } from 'crypto';
import {
  DescribeSecretCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';

export type RotationStep = 'createSecret' | 'setSecret' | 'testSecret' | 'finishSecret';
export const ROTATION_STEPS: readonly RotationStep[] = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'];

export type RotationEvent =
  | { type: 'rotation-started'; token: string }
  | { type: 'step-started'; token: string; attempt: number; step: RotationStep }
  | { type: 'step-succeeded'; token: string; attempt: number; step: RotationStep; ms: number }
  | { type: 'step-failed'; token: string; attempt: number; step: RotationStep; ms: number; message: string }
  | { type: 'rotation-succeeded'; token: string; attempts: number }
  | { type: 'rotation-failed'; token: string; attempts: number };

export interface RotationFailure {
  attempt: number;
  step: string;
  message: string;
}

export interface RotateSecretOptions {
  sm: SecretsManagerClient;
  secretId: string;
  invokeStep: (step: RotationStep, token: string) => Promise<void>;
  /** Attempts of the whole four-step sequence (default 3). */
  maxAttempts?: number;
  onProgress?: (e: RotationEvent) => void;
}

export interface RotationResult {
  versionId: string;
  attempts: number;
  failures: RotationFailure[];
}

export class RotationFailedError extends Error {
  constructor(
    readonly secretId: string,
    readonly token: string,
    readonly failures: RotationFailure[],
  ) {
    super(
      `rotation of ${secretId} (token ${token}) failed after ${failures.length} attempt(s):\n` +
        failures.map((f) => `  attempt ${f.attempt}, ${f.step}: ${f.message}`).join('\n'),
    );
    this.name = 'RotationFailedError';
  }
}

/** versionId -> staging labels. Versions without labels are left out, as AWS does (they are deprecated). */
export async function describeStages(sm: SecretsManagerClient, secretId: string): Promise<Record<string, string[]>> {
  const d = await sm.send(new DescribeSecretCommand({ SecretId: secretId }));
  return Object.fromEntries(Object.entries(d.VersionIdsToStages ?? {}).filter(([, stages]) => stages.length > 0));
}

export async function rotateSecret(opts: RotateSecretOptions): Promise<RotationResult> {
  const { sm, secretId } = opts;
  const maxAttempts = opts.maxAttempts ?? 3;
  const emit = opts.onProgress ?? (() => undefined);

  await checkNoRotationInProgress(sm, secretId);
  const token = randomUUID();
  await stageNewVersion(sm, secretId, token);
  emit({ type: 'rotation-started', token });

  const failures: RotationFailure[] = [];
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const failure = await runSteps(opts, token, attempt, emit);
    if (!failure) {
      const stages = await describeStages(sm, secretId);
      if (stages[token]?.includes('AWSPENDING')) {
        await sm.send(new UpdateSecretVersionStageCommand({ SecretId: secretId, VersionStage: 'AWSPENDING', RemoveFromVersionId: token }));
      }
      emit({ type: 'rotation-succeeded', token, attempts: attempt });
      return { versionId: token, attempts: attempt, failures };
    }
    failures.push(failure);
  }
  emit({ type: 'rotation-failed', token, attempts: maxAttempts });
  // Staging is left as AWS leaves it: AWSPENDING stays on the token's version and blocks the next rotation.
  throw new RotationFailedError(secretId, token, failures);
}

async function runSteps(
  opts: RotateSecretOptions,
  token: string,
  attempt: number,
  emit: (e: RotationEvent) => void,
): Promise<RotationFailure | undefined> {
  for (const step of ROTATION_STEPS) {
    emit({ type: 'step-started', token, attempt, step });
    const started = Date.now();
    try {
      await opts.invokeStep(step, token);
      if (step === 'finishSecret') {
        // A finishSecret that returns without promoting the token would leave the secret blocked; be loud.
        const stages = await describeStages(opts.sm, opts.secretId);
        if (!stages[token]?.includes('AWSCURRENT')) {
          throw new Error(`finishSecret returned but version ${token} is not AWSCURRENT (stages: ${JSON.stringify(stages)})`);
        }
      }
      emit({ type: 'step-succeeded', token, attempt, step, ms: Date.now() - started });
    } catch (e) {
      const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      emit({ type: 'step-failed', token, attempt, step, ms: Date.now() - started, message });
      return { attempt, step, message };
    }
  }
  return undefined;
}

async function checkNoRotationInProgress(sm: SecretsManagerClient, secretId: string): Promise<void> {
  const stages = await describeStages(sm, secretId);
  for (const [versionId, labels] of Object.entries(stages)) {
    if (!labels.includes('AWSPENDING')) continue;
    if (labels.includes('AWSCURRENT')) {
      // AWS treats AWSPENDING on the AWSCURRENT version as a finished rotation; moto would refuse, so clear it.
      await sm.send(
        new UpdateSecretVersionStageCommand({ SecretId: secretId, VersionStage: 'AWSPENDING', RemoveFromVersionId: versionId }),
      );
      continue;
    }
    const err = new Error(
      `A previous rotation isn't complete. That rotation will be reattempted. (version ${versionId} of ${secretId} still has AWSPENDING)`,
    );
    err.name = 'InvalidRequestException';
    throw err;
  }
}

/**
 * Makes moto stage `token` as a value-less AWSPENDING version, exactly as AWS does before createSecret.
 *
 * moto 5.2.1 quirk (secretsmanager/models.py rotate_secret): WITHOUT a RotationLambdaARN it moves
 * AWSCURRENT onto the new, value-less version at once (reads of AWSCURRENT then fail). WITH an ARN it
 * first stages AWSPENDING, records the ARN and rotation rules, and only then looks the function up; with
 * an ARN that does not exist in moto that lookup raises ResourceNotFoundException and leaves exactly the
 * AWS staging (AWSCURRENT untouched, RotationEnabled=true, RotationLambdaARN set). We rely on that and
 * verify the result, so a moto upgrade that changes it fails loudly here.
 */
async function stageNewVersion(sm: SecretsManagerClient, secretId: string, token: string): Promise<void> {
  const d = await sm.send(new DescribeSecretCommand({ SecretId: secretId }));
  const [, , , region, account] = (d.ARN ?? '').split(':');
  const standIn = `arn:aws:lambda:${region}:${account}:function:rotation-service-stand-in`;
  try {
    await sm.send(
      new RotateSecretCommand({
        SecretId: secretId,
        ClientRequestToken: token,
        RotationLambdaARN: standIn,
        // Rules only the first time: moto marks rotation enabled when it sees AutomaticallyAfterDays.
        RotationRules: d.RotationEnabled ? undefined : { AutomaticallyAfterDays: 1 },
      }),
    );
  } catch (e) {
    if (!(e instanceof Error && e.name === 'ResourceNotFoundException' && e.message.includes(standIn))) throw e;
  }
  const stages = await describeStages(sm, secretId);
  if (JSON.stringify(stages[token]) !== '["AWSPENDING"]') {
    throw new Error(`rotation-service: moto did not stage ${token} as AWSPENDING (stages: ${JSON.stringify(stages)})`);
  }
}

/**
 * The URL secret's rotation state, read from one DescribeSecret answer: which
 * version holds which stage, when the current token was promoted, and whether
 * a rotation was deferred. Every reader (the rotation steps, the watchdog, the
 * signer, the first rotation, the CLI) goes through this module. Pure: it
 * takes DescribeSecret's output and makes no call.
 */
import { DeferredTag, PromotedTag } from '../lib/secret-tags';

/** The parts of DescribeSecret's output the state is made of. */
export interface SecretMetadata {
  readonly VersionIdsToStages?: Record<string, string[]>;
  readonly Tags?: ReadonlyArray<{ readonly Key?: string; readonly Value?: string }>;
}

export interface RotationState {
  /** versionId → staging labels; versions without labels left out. */
  readonly stages: Readonly<Record<string, readonly string[]>>;
  readonly current?: string;
  readonly previous?: string;
  /** AWSPENDING on a version other than AWSCURRENT: a rotation that has not finished (or failed). */
  readonly pending?: string;
  /** From the promoted tag: which version finishSecret promoted last, and when. */
  readonly promoted?: { readonly versionId: string; readonly at: Date };
  /** From the deferred tag: the version that carries a copy of the current value, and when the real rotation may run. */
  readonly deferred?: { readonly versionId: string; readonly until: Date };
}

export function rotationStateOf(metadata: SecretMetadata): RotationState {
  const stages: Record<string, string[]> = {};
  for (const [id, labels] of Object.entries(metadata.VersionIdsToStages ?? {})) {
    if (labels.length > 0) stages[id] = labels;
  }
  const holder = (stage: string, unless?: string) =>
    Object.entries(stages).find(([, labels]) => labels.includes(stage) && (unless === undefined || !labels.includes(unless)))?.[0];
  const tag = (key: string) => metadata.Tags?.find((t) => t.Key === key)?.Value;
  const deferred = DeferredTag.decode(tag(DeferredTag.key));
  return {
    stages,
    current: holder('AWSCURRENT'),
    previous: holder('AWSPREVIOUS'),
    pending: holder('AWSPENDING', 'AWSCURRENT'),
    promoted: PromotedTag.decode(tag(PromotedTag.key)),
    deferred: deferred && { versionId: deferred.versionId, until: deferred.at },
  };
}

/** When `versionId` was promoted, if the promoted tag names it. */
export function promotionTimeOf(state: RotationState, versionId: string | undefined): Date | undefined {
  return versionId !== undefined && state.promoted?.versionId === versionId ? state.promoted.at : undefined;
}

/** Whether `versionId` is a deferred rotation's copy of the value before it (same token, nothing to redeploy). */
export function isDeferredCopy(state: RotationState, versionId: string): boolean {
  return state.deferred?.versionId === versionId;
}

/**
 * When the token AWSCURRENT holds was promoted: the promoted tag when it names
 * AWSCURRENT, or when AWSCURRENT is a deferred copy and the tag names
 * AWSPREVIOUS, the version it copied. undefined: unknown (promoted long ago,
 * or by something else).
 */
export function currentTokenPromotedAt(state: RotationState): Date | undefined {
  const direct = promotionTimeOf(state, state.current);
  if (direct !== undefined || state.current === undefined || !isDeferredCopy(state, state.current)) return direct;
  return promotionTimeOf(state, state.previous);
}

/**
 * The last promotion of a real token, for "is a rollout still replacing
 * tasks?": the promoted tag when it names AWSCURRENT or AWSPREVIOUS (AWSCURRENT
 * may be a deferred copy). A tag naming an older version is long past.
 */
export function lastPromotionAt(state: RotationState): Date | undefined {
  return promotionTimeOf(state, state.current) ?? promotionTimeOf(state, state.previous);
}

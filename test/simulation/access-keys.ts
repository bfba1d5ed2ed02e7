/**
 * The access-key signer's IAM user: at most two keys, rotated at each
 * createSecret, with the guards of functions/signer-key-reuse.ts (see SignerModel).
 */
import { SignerModel } from './options';
import { AccessKey, RotationRecord, TokenRecord } from './records';

export class AccessKeyPool {
  /** The signer user's access keys that are not deleted (IAM allows two). */
  private readonly liveKeys = new Set<AccessKey>();
  private keyCount = 0;

  /** `heldByServiceTask`: whether a running service task holds a token the key signed (fleetGuard). */
  constructor(private readonly heldByServiceTask: (key: AccessKey) => boolean) {}

  /**
   * Access-key signer, at createSecret: deletes every key but AWSCURRENT's and
   * creates the key that signs the new token. While a guard holds a key to
   * delete back, either fails (returns the reason) or, with guardAction
   * 'reuse', deletes nothing and signs with AWSCURRENT's key (records it on
   * the rotation). Role signer: no key.
   */
  public signingKey(
    signer: SignerModel,
    rotation: RotationRecord,
    now: number,
    current: TokenRecord | undefined,
  ): AccessKey | undefined | string {
    if (signer.kind !== 'access-key') return undefined;
    const currentKey = current?.key;
    const others = [...this.liveKeys].filter((k) => k !== currentKey);
    const inWindow =
      signer.guardSeconds !== undefined && current?.promotedAt !== undefined && now - current.promotedAt < signer.guardSeconds;
    // The window keeps keys of promoted tokens (AWSPREVIOUS's, or of a recorded promotion); orphans of failed rotations go.
    const windowHolds = inWindow && others.some((k) => k.signedPromoted);
    const fleetGuarded =
      signer.fleetGuard === true &&
      (signer.fleetGuardSeconds === undefined ||
        (current?.promotedAt !== undefined && now - current.promotedAt < signer.fleetGuardSeconds));
    // The fleet survey covers every key to delete; a key no running service task uses is free.
    const fleetHolds = !windowHolds && fleetGuarded && others.some((k) => this.heldByServiceTask(k));
    if (windowHolds || fleetHolds) {
      const why = windowHolds ? 'window' : 'fleet';
      if (signer.guardAction === 'reuse' && currentKey !== undefined) {
        rotation.keptKeys = why;
        return currentKey;
      }
      return why === 'window'
        ? 'createSecret: rotating again within the rollout and heal window of the last promotion would delete a key in use'
        : 'createSecret: a running task of a bound service holds a token signed by a key it would delete';
    }
    for (const k of others) {
      k.deletedAt = now;
      k.deletedBy = rotation.id;
      this.liveKeys.delete(k);
    }
    const key: AccessKey = { id: this.keyCount++, createdAt: now, deletedAt: Infinity, signedPromoted: false };
    this.liveKeys.add(key);
    return key;
  }
}

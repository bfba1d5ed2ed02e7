/**
 * The access-key signer's IAM user: at most two keys, rotated at each
 * createSecret, with the guard of functions/signer.ts (see SignerModel).
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
   * creates the key that signs the new token. With the guard, while the key
   * of a promoted token may still be in use, either fails (returns the
   * reason) or keeps it and signs with AWSCURRENT's key. Role signer: no key.
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
    const guarded =
      signer.guardSeconds !== undefined &&
      currentKey !== undefined &&
      current?.promotedAt !== undefined &&
      now - current.promotedAt < signer.guardSeconds;
    if (guarded && signer.guardAction !== 'reuse' && others.some((k) => k.signedPromoted)) {
      return 'createSecret: rotating again within rolloutAllowance of the last promotion would delete a key in use';
    }
    const fleetGuarded =
      signer.fleetGuard === true &&
      (signer.fleetGuardSeconds === undefined ||
        (current?.promotedAt !== undefined && now - current.promotedAt < signer.fleetGuardSeconds));
    if (fleetGuarded && others.some((k) => k.signedPromoted && this.heldByServiceTask(k))) {
      return 'createSecret: a running task of a bound service holds a token signed by a key it would delete';
    }
    for (const k of others) {
      if (guarded && k.signedPromoted) continue;
      k.deletedAt = now;
      k.deletedBy = rotation.id;
      this.liveKeys.delete(k);
    }
    if (this.liveKeys.size >= 2) return currentKey;
    const key: AccessKey = { id: this.keyCount++, createdAt: now, deletedAt: Infinity, signedPromoted: false };
    this.liveKeys.add(key);
    return key;
  }
}

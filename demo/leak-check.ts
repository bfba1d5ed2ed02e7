/**
 * The demo's leak check: every token, signature and signer key the demo has seen must appear neither in
 * its output nor in the handlers' logs.
 */
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { SignerKeysValue } from '../lib/contract';
import { LocalStack } from '../test/support/local-stack';

export class LeakCheck {
  /** Every token the demo has seen. */
  private readonly tokens = new Set<string>();
  /** The signer user's key material seen in its keys secret, and what each is. */
  private readonly signerKeys = new Map<string, string>();

  remember(token: string): void {
    if (token) this.tokens.add(token);
  }

  /** The signer user's keys, as the keys secret holds them: neither a secret part nor a whole key id may be printed. */
  async rememberSignerKeys(s: LocalStack): Promise<void> {
    const out = await s.sm.send(new GetSecretValueCommand({ SecretId: s.accessKeySigner!.keysSecretArn, VersionStage: 'AWSCURRENT' }));
    for (const key of (JSON.parse(out.SecretString ?? '{}') as Partial<SignerKeysValue>).keys ?? []) {
      this.signerKeys.set(key.secretAccessKey, "the signer user's secret access key");
      this.signerKeys.set(key.accessKeyId, 'a whole access key id of the signer user');
    }
  }

  /** What leaked and where, or undefined. */
  check(output: string, stack: LocalStack | undefined): string | undefined {
    const needles = new Map<string, string>();
    for (const token of this.tokens) {
      needles.set(token, 'a token');
      needles.set(encodeURIComponent(token), 'a percent-encoded token');
      const signature = /X-Amz-Signature=([0-9a-f]{64})/.exec(token)?.[1];
      if (signature) needles.set(signature, "a token's signature");
    }
    if (stack) needles.set(stack.signer.secretAccessKey, "the signer's secret access key");
    for (const [needle, what] of this.signerKeys) needles.set(needle, what);
    const haystacks: Array<[string, string]> = [
      ['demo output', output],
      ['handler logs', (stack?.handlerLogs ?? []).join('\n')],
    ];
    for (const [needle, what] of needles) {
      if (needle.length < 16) continue; // the placeholder's empty password is not a secret
      for (const [where, text] of haystacks) if (text.includes(needle)) return `${what} appears in the ${where}`;
    }
    if (this.tokens.size === 0 && stack) return 'no token was read, nothing to check against';
    return undefined;
  }
}

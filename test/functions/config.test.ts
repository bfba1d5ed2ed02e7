import { HandlerEnv, SignerEnv } from '../../lib/contract';
import { readConfig, readSignerConfig } from '../../functions/config';
import { accessKeySignerEnv, handlerEnv, HOST, KEYS_SECRET_ARN, REGION, SIGNER_USER } from './fixtures';

describe('readConfig', () => {
  test('reads every setting the construct passes', () => {
    const cfg = readConfig(handlerEnv({
      [HandlerEnv.PORT]: '6543',
      [HandlerEnv.USERNAME]: 'app_user',
      [HandlerEnv.TOKEN_LIFETIME_SECONDS]: '3600',
      [HandlerEnv.URL_QUERY]: 'sslmode=verify-full&uselibpqcompat=true',
      [HandlerEnv.BOUND_SERVICES_PARAMETER]: '/my/bound-services',
      [HandlerEnv.REDEPLOY_CONCURRENCY]: '3',
      [HandlerEnv.REDEPLOY_STAGGER_MS]: '250',
      [HandlerEnv.CONNECT_TIMEOUT_SECONDS]: '7',
      [SignerEnv.ROLLOUT_ALLOWANCE_SECONDS]: '1800',
    }));

    expect(cfg).toEqual({
      host: HOST,
      port: 6543,
      region: REGION,
      database: 'postgres',
      username: 'app_user',
      tokenLifetimeSeconds: 3600,
      urlQuery: 'sslmode=verify-full&uselibpqcompat=true',
      boundServicesParameter: '/my/bound-services',
      boundServicesParameterCount: 1,
      redeployConcurrency: 3,
      redeployStaggerMs: 250,
      connectTimeoutSeconds: 7,
      signer: { kind: 'role' },
      rolloutAllowanceSeconds: 1800,
    });
  });

  test('optional settings fall back to their defaults', () => {
    const cfg = readConfig(handlerEnv({
      [HandlerEnv.PORT]: undefined,
      [HandlerEnv.URL_QUERY]: undefined,
    }));

    expect(cfg.port).toBe(5432);
    expect(cfg.urlQuery).toBe('sslmode=require');
    expect(cfg.redeployConcurrency).toBe(5);
    expect(cfg.redeployStaggerMs).toBe(0);
    expect(cfg.connectTimeoutSeconds).toBe(10);
    // Unset with the role signer: rotations are never deferred.
    expect(cfg.rolloutAllowanceSeconds).toBe(0);
  });

  test('the access-key signer\'s rolloutAllowance also sets the deferral window', () => {
    const cfg = readConfig(handlerEnv(accessKeySignerEnv(900)));
    expect(cfg.rolloutAllowanceSeconds).toBe(900);
    expect(() => readConfig(handlerEnv({ [SignerEnv.ROLLOUT_ALLOWANCE_SECONDS]: '-1' }))).toThrow(/non-negative integer/);
  });

  test.each([HandlerEnv.HOST, HandlerEnv.REGION, HandlerEnv.DATABASE, HandlerEnv.USERNAME, HandlerEnv.TOKEN_LIFETIME_SECONDS,
    HandlerEnv.BOUND_SERVICES_PARAMETER])(
    'a missing %s is an error that names the variable',
    (name) => {
      expect(() => readConfig(handlerEnv({ [name]: undefined }))).toThrow(new RegExp(`Environment variable ${name} is not set`));
      expect(() => readConfig(handlerEnv({ [name]: '' }))).toThrow(new RegExp(`Environment variable ${name} is not set`));
    },
  );

  test.each([
    [HandlerEnv.TOKEN_LIFETIME_SECONDS, 'abc'],
    [HandlerEnv.TOKEN_LIFETIME_SECONDS, '0'],
    [HandlerEnv.TOKEN_LIFETIME_SECONDS, '-60'],
    [HandlerEnv.TOKEN_LIFETIME_SECONDS, '1.5'],
    [HandlerEnv.PORT, '54x'],
    [HandlerEnv.REDEPLOY_CONCURRENCY, '0'],
    [HandlerEnv.CONNECT_TIMEOUT_SECONDS, 'ten'],
  ])('%s=%s is rejected as not a positive integer', (name, raw) => {
    expect(() => readConfig(handlerEnv({ [name]: raw }))).toThrow(`Environment variable ${name} must be a positive integer, got '${raw}'`);
  });

  test('reads process.env by default', () => {
    const saved = process.env[HandlerEnv.HOST];
    delete process.env[HandlerEnv.HOST];
    try {
      expect(() => readConfig()).toThrow(HandlerEnv.HOST);
    } finally {
      if (saved !== undefined) process.env[HandlerEnv.HOST] = saved;
    }
  });
});

describe('readSignerConfig', () => {
  test.each([undefined, '', 'role'])('SIGNER=%p is the role signer (functions deployed before signers existed set none)', (value) => {
    expect(readSignerConfig({ [SignerEnv.SIGNER]: value })).toEqual({ kind: 'role' });
  });

  test('access-key reads the user, the keys secret and the rollout allowance', () => {
    expect(readConfig(handlerEnv(accessKeySignerEnv(900))).signer).toEqual({
      kind: 'access-key', userName: SIGNER_USER, keysSecretArn: KEYS_SECRET_ARN, rolloutAllowanceSeconds: 900,
    });
    expect(readSignerConfig(accessKeySignerEnv(0)).kind).toBe('access-key');
  });

  test.each([SignerEnv.SIGNER_USER_NAME, SignerEnv.SIGNER_KEYS_SECRET_ARN, SignerEnv.ROLLOUT_ALLOWANCE_SECONDS])(
    'access-key without %s is an error that names it',
    (name) => {
      expect(() => readSignerConfig({ ...accessKeySignerEnv(), [name]: undefined })).toThrow(`Environment variable ${name} is not set`);
    },
  );

  test.each(['-1', '1.5', 'soon'])('ROLLOUT_ALLOWANCE_SECONDS=%s is rejected', (raw) => {
    expect(() => readSignerConfig({ ...accessKeySignerEnv(), [SignerEnv.ROLLOUT_ALLOWANCE_SECONDS]: raw }))
      .toThrow(`Environment variable ${SignerEnv.ROLLOUT_ALLOWANCE_SECONDS} must be a non-negative integer, got '${raw}'`);
  });

  test('an unknown signer is rejected', () => {
    expect(() => readSignerConfig({ [SignerEnv.SIGNER]: 'user' })).toThrow("Environment variable SIGNER must be 'role' or 'access-key', got 'user'");
  });
});

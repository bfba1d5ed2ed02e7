import {
  FUNCTION_CONFIG_ENV,
  FunctionBundle,
  FunctionBundleName,
  InitialRotationFunctionConfig,
  RoleBootstrapFunctionConfig,
  RoleGrantCheckConfig,
  RotationFunctionConfig,
  SignerConfig,
  SignerKind,
  WatchdogFunctionConfig,
} from '../lib/contract';

export type { SignerConfig };
/** What the construct configured for the rotation function (the name the steps use). */
export type HandlerConfig = RotationFunctionConfig;

/** Each function's configuration type, by bundle name. */
export interface FunctionConfigs {
  [FunctionBundle.ROTATION]: RotationFunctionConfig;
  [FunctionBundle.WATCHDOG]: WatchdogFunctionConfig;
  [FunctionBundle.INITIAL_ROTATION]: InitialRotationFunctionConfig;
  [FunctionBundle.ROLE_BOOTSTRAP]: RoleBootstrapFunctionConfig;
}

const DEPLOYED_BY = 'the function must be deployed by the DsqlUrlSecret construct';

/**
 * Reads and checks the configuration the construct wrote for function `fn`
 * into FUNCTION_CONFIG_ENV. Every field is required and checked; the first
 * problem throws one message naming the variable, the field path and what was
 * expected. Messages name fields and types only, never a value.
 */
export function readFunctionConfig<F extends FunctionBundleName>(fn: F, env: NodeJS.ProcessEnv = process.env): FunctionConfigs[F] {
  const raw = env[FUNCTION_CONFIG_ENV];
  if (raw === undefined || raw === '') throw new Error(`Environment variable ${FUNCTION_CONFIG_ENV} is not set: ${DEPLOYED_BY}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    // JSON.parse's message quotes the input: say where, not what.
    throw new Error(`Environment variable ${FUNCTION_CONFIG_ENV} is not valid JSON: ${DEPLOYED_BY}`);
  }
  if (!isObject(parsed)) throw new Error(`Environment variable ${FUNCTION_CONFIG_ENV} must be a JSON object, got ${typeOf(parsed)}`);
  const fields = new Fields(parsed, FUNCTION_CONFIG_ENV);
  const config = READERS[fn](fields);
  fields.noOthers();
  return config as FunctionConfigs[F];
}

const READERS: { [F in FunctionBundleName]: (f: Fields) => FunctionConfigs[F] } = {
  [FunctionBundle.ROTATION]: (f) => ({
    host: f.string('host'),
    port: f.integer('port', 1),
    region: f.string('region'),
    database: f.string('database'),
    username: f.string('username'),
    tokenLifetimeSeconds: f.integer('tokenLifetimeSeconds', 1),
    // '' is a URL without query parameters.
    urlQuery: f.string('urlQuery', { allowEmpty: true }),
    boundServicesParameter: f.string('boundServicesParameter'),
    boundServicesParameterCount: f.integer('boundServicesParameterCount', 1),
    boundFunctionsParameter: f.string('boundFunctionsParameter'),
    boundFunctionsParameterCount: f.integer('boundFunctionsParameterCount', 1),
    redeployConcurrency: f.integer('redeployConcurrency', 1),
    redeployStaggerMs: f.integer('redeployStaggerMs', 0),
    metricDimension: f.string('metricDimension'),
    connectTimeoutSeconds: f.integer('connectTimeoutSeconds', 1),
    signer: readSigner(f.object('signer')),
    rolloutAllowanceSeconds: f.integer('rolloutAllowanceSeconds', 0),
    watchdogIntervalSeconds: f.integer('watchdogIntervalSeconds', 1),
  }),
  [FunctionBundle.WATCHDOG]: (f) => ({
    secretArn: f.string('secretArn'),
    rotateBeforeExpirySeconds: f.integer('rotateBeforeExpirySeconds', 1),
    stalePendingSeconds: f.integer('stalePendingSeconds', 1),
    metricDimension: f.string('metricDimension'),
    connectTimeoutSeconds: f.integer('connectTimeoutSeconds', 1),
    boundServicesParameter: f.string('boundServicesParameter'),
    boundServicesParameterCount: f.integer('boundServicesParameterCount', 1),
    boundServicesFingerprint: f.string('boundServicesFingerprint'),
    boundFunctionsParameter: f.string('boundFunctionsParameter'),
    boundFunctionsParameterCount: f.integer('boundFunctionsParameterCount', 1),
    rolloutAllowanceSeconds: f.integer('rolloutAllowanceSeconds', 0),
    redeployConcurrency: f.integer('redeployConcurrency', 1),
  }),
  [FunctionBundle.INITIAL_ROTATION]: (f) => ({
    secretArn: f.string('secretArn'),
    rotationLogGroupName: f.string('rotationLogGroupName'),
    timeoutSeconds: f.integer('timeoutSeconds', 1),
    signerUserName: f.string('signerUserName', { allowNull: true }),
    clusterIdentifier: f.string('clusterIdentifier'),
    clusterRegion: f.string('clusterRegion'),
    redriveAfterSeconds: f.integer('redriveAfterSeconds', 1),
    maxRotationAttempts: f.integer('maxRotationAttempts', 1),
    roleGrantCheck: readRoleGrantCheck(f.objectOrNull('roleGrantCheck')),
  }),
  [FunctionBundle.ROLE_BOOTSTRAP]: (f) => ({
    host: f.string('host'),
    port: f.integer('port', 1),
    region: f.string('region'),
    database: f.string('database'),
    roleName: f.string('roleName'),
    signerArn: f.string('signerArn'),
    // [] is a role without SQL grants; each entry is parsed again by the function.
    grants: f.strings('grants'),
    connectTimeoutSeconds: f.integer('connectTimeoutSeconds', 1),
  }),
};

function readRoleGrantCheck(f: Fields | null): RoleGrantCheckConfig | null {
  if (f === null) return null;
  const check = {
    roleName: f.string('roleName'),
    signerArn: f.string('signerArn'),
    graceSeconds: f.integer('graceSeconds', 0),
    connectTimeoutSeconds: f.integer('connectTimeoutSeconds', 1),
  };
  f.noOthers();
  return check;
}

function readSigner(f: Fields): SignerConfig {
  const kind = f.oneOf('kind', [SignerKind.ROLE, SignerKind.ACCESS_KEY]);
  const signer: SignerConfig =
    kind === SignerKind.ROLE ? { kind } : { kind, userName: f.string('userName'), keysSecretArn: f.string('keysSecretArn') };
  f.noOthers();
  return signer;
}

/** Reads the fields of one JSON object, remembering which were read so that any other is an error. */
class Fields {
  private readonly read = new Set<string>();

  constructor(
    private readonly obj: Record<string, unknown>,
    private readonly path: string,
  ) {}

  string(name: string, opts: { allowEmpty?: boolean; allowNull: true }): string | null;
  string(name: string, opts?: { allowEmpty?: boolean; allowNull?: false }): string;
  string(name: string, opts: { allowEmpty?: boolean; allowNull?: boolean } = {}): string | null {
    const value = this.get(name);
    if (value === null && opts.allowNull) return null;
    if (typeof value !== 'string' || (value === '' && !opts.allowEmpty)) {
      this.fail(name, `a ${opts.allowEmpty ? '' : 'non-empty '}string${opts.allowNull ? ' or null' : ''}`, value);
    }
    return value;
  }

  /** An integer of at least `min` (0: non-negative, 1: positive). */
  integer(name: string, min: 0 | 1): number {
    const value = this.get(name);
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      this.fail(name, min === 0 ? 'a non-negative integer' : 'a positive integer', value);
    }
    return value;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[]): T {
    const value = this.get(name);
    // Naming the allowed values is safe; the value found is only described.
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.fail(name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
    }
    return value as T;
  }

  /** An array of non-empty strings (it may be empty). */
  strings(name: string): string[] {
    const value = this.get(name);
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '')) {
      this.fail(name, 'an array of non-empty strings', value);
    }
    return value as string[];
  }

  /** An object, or null for none. */
  objectOrNull(name: string): Fields | null {
    const value = this.get(name);
    if (value === null) return null;
    if (!isObject(value)) this.fail(name, 'an object or null', value);
    return new Fields(value, `${this.path}.${name}`);
  }

  object(name: string): Fields {
    const value = this.get(name);
    if (!isObject(value)) this.fail(name, 'an object', value);
    return new Fields(value, `${this.path}.${name}`);
  }

  /** Throws on a field no reader asked for: a config written for another function or version. */
  noOthers(): void {
    const other = Object.keys(this.obj).find((k) => !this.read.has(k));
    if (other !== undefined) throw new Error(`${this.path}.${other} is not a known field: ${DEPLOYED_BY}`);
  }

  private get(name: string): unknown {
    this.read.add(name);
    if (!Object.hasOwn(this.obj, name) || this.obj[name] === undefined) {
      throw new Error(`${this.path}.${name} is missing: ${DEPLOYED_BY}`);
    }
    return this.obj[name];
  }

  private fail(name: string, expected: string, value: unknown): never {
    throw new Error(`${this.path}.${name} must be ${expected}, got ${typeOf(value)}`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What a value is, without what it holds. */
function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return 'a non-integer number';
    return value < 0 ? 'a negative number' : value === 0 ? 'zero' : 'a number';
  }
  if (typeof value === 'string') return value === '' ? 'an empty string' : 'a string';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

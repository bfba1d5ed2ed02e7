import { AddressInfo, createServer, Server, Socket } from 'net';
import { DsqlUrlSecretValue } from '../../lib/contract';
import { checkConnection, classifyConnectionFailure, explainConnectionFailure } from '../../functions/connection-check';
import { HOST } from './fixtures';

const admin = { host: HOST, port: 5432, username: 'admin' };
const custom = { host: HOST, port: 5432, username: 'app_user' };
const driverError = (message: string, code?: string) => Object.assign(new Error(message), code === undefined ? {} : { code });

describe('explainConnectionFailure', () => {
  test.each([
    ['28000', 'access denied'],
    ['28P01', 'password authentication failed for user "admin"'],
    [undefined, 'PAM authentication failed'],
  ])('auth failure (code %s) for admin names dsql:DbConnectAdmin and no GRANT', (code, message) => {
    const text = explainConnectionFailure(admin, driverError(message, code));

    expect(text).toContain(`DSQL rejected the new token at ${HOST}:5432 as 'admin'`);
    expect(text).toContain(message);
    expect(text).toContain('dsql:DbConnectAdmin');
    expect(text).not.toContain('AWS IAM GRANT');
  });

  test('auth failure for a custom role names dsql:DbConnect and the AWS IAM GRANT it needs', () => {
    const text = explainConnectionFailure(custom, driverError('access denied', '28000'));

    expect(text).toContain('dsql:DbConnect ');
    expect(text).not.toContain('DbConnectAdmin');
    expect(text).toContain("AWS IAM GRANT app_user TO '<signer IAM ARN>'");
  });

  test.each([
    ['ENOTFOUND', `getaddrinfo ENOTFOUND ${HOST}`],
    ['ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:5432'],
    ['ETIMEDOUT', 'connect ETIMEDOUT 10.0.0.1:5432'],
    [undefined, 'Connection terminated due to connection timeout'],
  ])('network failure (%s) points at the network path', (code, message) => {
    const text = explainConnectionFailure(admin, driverError(message, code));

    expect(text).toContain(`could not reach ${HOST}:5432 as 'admin'`);
    expect(text).toContain(message);
    expect(text).toContain(code ?? 'timeout');
    expect(text).toMatch(/VPC routing, NAT or the DSQL VPC endpoint, security groups/);
  });

  test.each([
    'self-signed certificate in certificate chain',
    "Hostname/IP does not match certificate's altnames",
    'The server does not support SSL connections',
  ])('TLS failure "%s" says DSQL requires TLS', (message) => {
    const text = explainConnectionFailure(admin, driverError(message));

    expect(text).toContain(`TLS to ${HOST}:5432 as 'admin' failed (${message})`);
    expect(text).toContain('DSQL requires TLS');
  });

  test('anything else is reported with its code and message', () => {
    expect(explainConnectionFailure(admin, driverError('relation does not exist', '42P01'))).toBe(
      `testSecret: connecting to ${HOST}:5432 as 'admin' failed (42P01: relation does not exist).`,
    );
    expect(explainConnectionFailure(admin, 'weird')).toBe(`testSecret: connecting to ${HOST}:5432 as 'admin' failed (error: weird).`);
  });
});

describe('classifyConnectionFailure', () => {
  test.each([
    ['auth', driverError('access denied', '28000')],
    ['auth', driverError('password authentication failed', '28P01')],
    ['network', driverError('connect ECONNREFUSED', 'ECONNREFUSED')],
    ['network', driverError('Connection terminated due to connection timeout')],
    ['tls', driverError('self-signed certificate in certificate chain')],
    ['other', driverError('relation does not exist', '42P01')],
  ])('%s: %p', (kind, err) => {
    expect(classifyConnectionFailure(err)).toBe(kind);
  });
});

describe('checkConnection with a real pg client', () => {
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  afterEach(async () => {
    sockets.splice(0).forEach((s) => s.destroy());
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  });

  async function listen(onConnection: (socket: Socket) => void): Promise<number> {
    const server = createServer((socket) => {
      sockets.push(socket);
      onConnection(socket);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  async function closedPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    return port;
  }

  const valueFor = (port: number): DsqlUrlSecretValue => ({
    url: 'unused',
    host: '127.0.0.1',
    port,
    username: 'admin',
    password: 'token',
    dbname: 'postgres',
    sslmode: 'require',
    issuedAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 3600_000).toISOString(),
  });

  async function timed(promise: Promise<unknown>): Promise<{ error: Error; ms: number }> {
    const start = Date.now();
    const error = await promise.then(
      () => {
        throw new Error('expected checkConnection to fail');
      },
      (e: Error) => e,
    );
    return { error, ms: Date.now() - start };
  }

  test('a closed port fails at once with the network message', async () => {
    const port = await closedPort();

    const { error, ms } = await timed(checkConnection(valueFor(port), 5));

    expect(error.message).toContain(`could not reach 127.0.0.1:${port} as 'admin' (ECONNREFUSED`);
    expect((error as Error & { kind?: string }).kind).toBe('network');
    expect(ms).toBeLessThan(2000);
  });

  test('a server that accepts and never answers fails with a timeout message after about the timeout', async () => {
    const port = await listen(() => undefined);

    const { error, ms } = await timed(checkConnection(valueFor(port), 1));

    expect(error.message).toMatch(new RegExp(`could not reach 127\\.0\\.0\\.1:${port} as 'admin' .*time`));
    expect(ms).toBeGreaterThanOrEqual(900);
    expect(ms).toBeLessThan(2500);
  });

  test('a server that refuses TLS fails with the TLS message (the client never sends the token in clear)', async () => {
    // Answer the SSLRequest with 'N' (no SSL), as a plain Postgres would.
    let received = Buffer.alloc(0);
    const port = await listen((socket) =>
      socket.on('data', (chunk) => {
        received = Buffer.concat([received, chunk]);
        socket.write('N');
      }),
    );

    const { error } = await timed(checkConnection(valueFor(port), 5));

    expect(error.message).toContain(`TLS to 127.0.0.1:${port} as 'admin' failed`);
    expect((error as Error & { kind?: string }).kind).toBe('tls');
    // Only the 8-byte SSLRequest (length 8, code 80877103) was sent: no startup message, no password.
    expect(received.length).toBe(8);
    expect(received.readInt32BE(4)).toBe(80877103);
  });
});

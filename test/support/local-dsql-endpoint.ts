import * as net from 'net';
import * as tls from 'tls';
import { IamRoleMappings } from './local-dsql-iam-mappings';
import { relay } from './local-dsql-relay';
import type { PostgresServer } from './postgres-server';
import { SigningCredentials, verifyDsqlToken } from './sigv4-presign-verify';
import { generateTlsCert } from './tls-cert';

/**
 * A local stand-in for Aurora DSQL's front door: a PostgreSQL wire-protocol server that insists on
 * TLS, asks for a cleartext password, checks it as a DSQL IAM token (SigV4 presigned URL), and then
 * relays bytes to a real PostgreSQL (trust auth) so real SQL runs. Tokens are never logged.
 *
 * Like DSQL, a token for a custom role (DbConnect) is accepted only when an admin granted that role to
 * the IAM identity that signed it (`AWS IAM GRANT r TO 'arn'`, which the endpoint runs itself: see
 * local-dsql-relay.ts and local-dsql-iam-mappings.ts); an admin token (DbConnectAdmin) needs no grant.
 *
 * Protocol reference: https://www.postgresql.org/docs/current/protocol-message-formats.html
 */
export interface LocalDsqlEndpoint {
  /** Host name tokens must be signed for (and the TLS certificate's name). Connect to 127.0.0.1. */
  host: string;
  port: number;
  caPem: string;
  /** CA certificate path, e.g. for NODE_EXTRA_CA_CERTS or PGSSLROOTCERT in a child process. */
  caFile: string;
  stats: { accepted: number; rejected: number; rejections: Array<{ user: string; reason: string }> };
  /** Called for each accepted login with its database user and the access key that signed its token (see call-recorder.ts). */
  onAccepted?: (user: string, accessKeyId: string) => void;
  /** The role-to-identity mappings (sys.iam_pg_role_mappings), sorted by role and ARN. */
  iamMappings(): Promise<Array<{ role: string; arn: string }>>;
  stop(): Promise<void>;
}

export interface LocalDsqlEndpointOptions {
  host?: string;
  region: string;
  backend: PostgresServer;
  credentials: (accessKeyId: string) => SigningCredentials | undefined;
  /** The IAM ARN (role or user) whose credentials include this access key; undefined = unknown. */
  identities: (accessKeyId: string) => string | undefined;
  /** Clock used for token / credential expiry (tests move it forward). */
  now?: () => Date;
  log?: (line: string) => void;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3_0 = 196608;
const MAX_STARTUP_LENGTH = 10_000; // as in PostgreSQL: anything longer is garbage
const MAX_PASSWORD_LENGTH = 16_384; // session-credential tokens are ~1-2 KB
const HANDSHAKE_TIMEOUT_MS = 30_000;

/** ErrorResponse ('E') with severity, SQLSTATE, message and optional detail. */
function errorResponse(code: string, message: string, detail?: string): Buffer {
  const fields = [`SFATAL`, `VFATAL`, `C${code}`, `M${message}`, ...(detail ? [`D${detail}`] : [])];
  const body = Buffer.concat([...fields.map((f) => Buffer.from(`${f}\0`, 'utf8')), Buffer.from([0])]);
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** StartupMessage (protocol 3.0) for the backend: same parameters as the client sent. */
function startupMessage(params: Map<string, string>): Buffer {
  const body = Buffer.concat([...[...params].map(([k, v]) => Buffer.from(`${k}\0${v}\0`, 'utf8')), Buffer.from([0])]);
  const head = Buffer.alloc(8);
  head.writeInt32BE(body.length + 8, 0);
  head.writeInt32BE(PROTOCOL_3_0, 4);
  return Buffer.concat([head, body]);
}

/** NegotiateProtocolVersion ('v'): we speak 3.0 and none of the client's `_pq_.` options. */
function negotiateProtocolVersion(unsupported: string[]): Buffer {
  const names = Buffer.concat(unsupported.map((n) => Buffer.from(`${n}\0`, 'utf8')));
  const head = Buffer.alloc(13);
  head.write('v', 0);
  head.writeInt32BE(12 + names.length, 1);
  head.writeInt32BE(0, 5);
  head.writeInt32BE(unsupported.length, 9);
  return Buffer.concat([head, names]);
}

const AUTH_CLEARTEXT_PASSWORD = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3]); // 'R', len 8, code 3

export async function startLocalDsqlEndpoint(opts: LocalDsqlEndpointOptions): Promise<LocalDsqlEndpoint> {
  const host = opts.host ?? 'localhost';
  const log = opts.log ?? (() => undefined);
  const cert = await generateTlsCert({ hosts: [...new Set([host, 'localhost', '127.0.0.1'])] });
  const secureContext = tls.createSecureContext({ cert: cert.certPem, key: cert.keyPem });
  const stats: LocalDsqlEndpoint['stats'] = { accepted: 0, rejected: 0, rejections: [] };
  const mappings = await IamRoleMappings.open(opts.backend.port);
  const sockets = new Set<net.Socket>(); // client (raw + TLS) and backend sockets, destroyed on stop()
  const track = <S extends net.Socket>(s: S): S => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    return s;
  };

  const handleConnection = (raw: net.Socket) => {
    track(raw).setNoDelay(true);
    raw.on('error', () => undefined); // resets are normal; 'close' does the cleanup
    let sock: net.Socket = raw; // becomes the TLSSocket after the SSLRequest
    let encrypted = false;
    let buf: Buffer = Buffer.alloc(0);
    let phase: 'startup' | 'password' | 'done' = 'startup';
    let params = new Map<string, string>();
    const timer = setTimeout(() => sock.destroy(), HANDSHAKE_TIMEOUT_MS).unref();
    raw.once('close', () => clearTimeout(timer));

    const reject = (user: string, code: string, message: string, reason: string, detail?: string) => {
      phase = 'done';
      stats.rejected++;
      stats.rejections.push({ user, reason });
      log(`rejected connection for user ${JSON.stringify(user)}: ${reason}`);
      sock.end(errorResponse(code, message, detail));
    };
    const protocolViolation = (why: string) => {
      phase = 'done';
      log(`closing connection: ${why}`);
      sock.end(errorResponse('08P01', `invalid startup packet: ${why}`));
    };

    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      // Loop: a chunk may hold a partial message or several (e.g. GSSENCRequest then SSLRequest).
      while (phase !== 'done') {
        if (phase === 'startup') {
          // Untyped startup-phase packet: int32 length (incl. itself), int32 code, payload.
          if (buf.length < 8) return;
          const len = buf.readInt32BE(0);
          if (len < 8 || len > MAX_STARTUP_LENGTH) return protocolViolation('bad length');
          if (buf.length < len) return;
          const code = buf.readInt32BE(4);
          const payload = buf.subarray(8, len);
          buf = buf.subarray(len);
          if (code === SSL_REQUEST) {
            if (encrypted) return protocolViolation('SSLRequest on an encrypted connection');
            // Bytes after the SSLRequest would be unencrypted data injected before the handshake (CVE-2021-23214).
            if (buf.length) return protocolViolation('data after SSLRequest');
            return upgradeToTls();
          }
          if (code === GSSENC_REQUEST) {
            sock.write('N');
            continue;
          } // no GSSAPI; client will try SSL next
          if (code === CANCEL_REQUEST) {
            phase = 'done';
            sock.destroy();
            return;
          }
          if (code >> 16 !== 3) {
            phase = 'done';
            sock.end(errorResponse('0A000', `unsupported frontend protocol ${code >> 16}.${code & 0xffff}`));
            return;
          }
          params = parseStartupParams(payload);
          const user = params.get('user') ?? '';
          if (!encrypted) return reject(user, '28000', 'unable to accept connection, SSL is required', 'SSL is required');
          if (!user) return reject(user, '28000', 'unable to accept connection, no user name specified', 'no user');
          const pqOptions = [...params.keys()].filter((k) => k.startsWith('_pq_.'));
          pqOptions.forEach((k) => params.delete(k)); // the backend gets a plain 3.0 StartupMessage
          if ((code & 0xffff) !== 0 || pqOptions.length) sock.write(negotiateProtocolVersion(pqOptions));
          if (!params.has('database')) params.set('database', user);
          sock.write(AUTH_CLEARTEXT_PASSWORD);
          phase = 'password';
        } else {
          // Typed message: byte type, int32 length (incl. itself), payload. Expect PasswordMessage 'p'.
          if (buf.length < 5) return;
          const type = String.fromCharCode(buf[0]);
          const len = buf.readInt32BE(1);
          if (type !== 'p' || len < 5 || len > MAX_PASSWORD_LENGTH) return protocolViolation('expected a password message');
          if (buf.length < len + 1) return;
          const payload = buf.subarray(5, len + 1);
          buf = buf.subarray(len + 1);
          const nul = payload.indexOf(0);
          void authenticate(payload.subarray(0, nul < 0 ? payload.length : nul).toString('utf8'));
          return;
        }
      }
    };
    raw.on('data', onData);

    const upgradeToTls = () => {
      raw.removeListener('data', onData);
      raw.pause(); // the ClientHello must reach the TLS layer, not our parser
      raw.write('S', () => {
        const secure = new tls.TLSSocket(raw, { isServer: true, secureContext });
        track(secure).on('error', (err) => {
          log(`TLS error: ${err.message}`);
          secure.destroy();
        });
        sock = secure;
        encrypted = true;
        secure.on('data', onData);
      });
    };

    const authenticate = async (password: string) => {
      const user = params.get('user') as string;
      const result = verifyDsqlToken(password, {
        host,
        region: opts.region,
        user,
        credentials: opts.credentials,
        now: opts.now?.(),
      });
      if (!result.ok) {
        return reject(user, '28000', 'unable to accept connection, access denied', result.reason, result.reason);
      }
      phase = 'done';
      if (user !== 'admin') {
        // DbConnect: the role must have been granted to the identity that signed the token.
        const arn = opts.identities(result.accessKeyId);
        const granted = arn !== undefined && (await mappings.isGranted(user, arn).catch(() => false));
        if (!granted) {
          const reason =
            arn === undefined
              ? `no IAM identity is known for access key ${result.accessKeyId}`
              : `role ${user} is not granted to ${arn} (as admin: AWS IAM GRANT ${user} TO '${arn}')`;
          return reject(user, '28000', 'unable to accept connection, access denied', reason, reason);
        }
      }
      stats.accepted++;
      endpoint.onAccepted?.(user, result.accessKeyId);
      log(`accepted user ${JSON.stringify(user)} signed by ${result.accessKeyId}`);
      proxyToBackend(buf, user);
    };

    /** After auth: relay messages both ways (the backend's AuthenticationOk etc. go straight to the client). */
    const proxyToBackend = (pending: Buffer, user: string) => {
      clearTimeout(timer);
      const client = sock;
      client.removeListener('data', onData);
      client.pause();
      const backend = track(net.connect({ host: '127.0.0.1', port: opts.backend.port }));
      backend.setNoDelay(true);
      let piped = false;
      backend.once('connect', () => {
        backend.write(startupMessage(params));
        piped = true;
        relay({ client, backend, user, mappings, pending, log });
      });
      backend.on('error', (err) => {
        log(`backend connection error: ${err.message}`);
        if (!piped) client.end(errorResponse('08006', 'unable to reach the database', err.message));
        else client.destroy();
      });
      backend.once('close', () => client.destroy());
      client.once('close', () => backend.destroy());
    };
  };

  const server = net.createServer(handleConnection);
  // Port 0: the kernel picks a free port at bind time, so there is no race with other workers.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  log(`local DSQL endpoint for ${host} (${opts.region}) on 127.0.0.1:${port} -> postgres :${opts.backend.port}`);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= new Promise<void>((resolve) => {
      server.close(() => {
        cert.remove();
        void mappings.close().then(() => resolve());
      });
      for (const s of sockets) s.destroy();
    }));

  const endpoint: LocalDsqlEndpoint = {
    host,
    port,
    caPem: cert.caPem,
    caFile: cert.caFile,
    stats,
    iamMappings: () => mappings.list(),
    stop,
  };
  return endpoint;
}

/** StartupMessage payload: NUL-terminated key/value pairs, ended by an empty key. */
function parseStartupParams(payload: Buffer): Map<string, string> {
  const parts = payload.toString('utf8').split('\0');
  const params = new Map<string, string>();
  for (let i = 0; i + 1 < parts.length && parts[i] !== ''; i += 2) params.set(parts[i], parts[i + 1]);
  return params;
}

/**
 * The local DSQL endpoint's relay after authentication: messages go both ways unchanged, except a
 * simple query ('Q') that is DSQL's own `AWS IAM GRANT|REVOKE`, which PostgreSQL does not know: the
 * endpoint answers it itself (IamRoleMappings), in order, after every reply the backend still owes.
 *
 * Both directions are split into protocol messages (type byte, int32 length) to find the queries and
 * to count ReadyForQuery ('Z'): every Query, Sync or FunctionCall the client sent is answered by one.
 *
 * Protocol reference: https://www.postgresql.org/docs/current/protocol-flow.html
 */
import * as net from 'net';
import { IamRoleMappings, isAwsIamStatement, parseAwsIamStatement, SqlError } from './local-dsql-iam-mappings';

/** A typed protocol message: 1 type byte, int32 length (itself included), payload. */
function message(type: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0);
  head.writeInt32BE(payload.length + 4, 1);
  return Buffer.concat([head, payload]);
}

/** ErrorResponse at severity ERROR: the session goes on. */
export function sqlErrorMessage(code: string, text: string): Buffer {
  const fields = ['SERROR', 'VERROR', `C${code}`, `M${text}`].map((f) => Buffer.from(`${f}\0`, 'utf8'));
  return message('E', Buffer.concat([...fields, Buffer.from([0])]));
}

/** Splits a byte stream into whole typed messages, keeping the rest for the next chunk. */
class Framer {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Buffer[] = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readInt32BE(1);
      if (this.buf.length < len + 1) break;
      out.push(this.buf.subarray(0, len + 1));
      this.buf = this.buf.subarray(len + 1);
    }
    return out;
  }
}

export interface RelayOptions {
  readonly client: net.Socket;
  readonly backend: net.Socket;
  /** The authenticated database user: only admin may run AWS IAM statements. */
  readonly user: string;
  readonly mappings: IamRoleMappings;
  /** Client bytes that arrived with the password message, already in the stream. */
  readonly pending: Buffer;
  readonly log: (line: string) => void;
}

/** Starts relaying; the backend has been sent the StartupMessage and answers it with one ReadyForQuery. */
export function relay(opts: RelayOptions): void {
  const { client, backend } = opts;
  const fromClient = new Framer();
  const fromBackend = new Framer();
  let owed = 1; // ReadyForQuery messages the backend still owes: the first answers the StartupMessage
  let status = 'I'; // the transaction status of the backend's last ReadyForQuery
  let caughtUp: (() => void) | undefined;
  // Client messages are handled one at a time, in order: an intercepted query waits for the backend.
  let queue = Promise.resolve();

  backend.on('data', (chunk: Buffer) => {
    for (const m of fromBackend.push(chunk)) {
      if (m[0] === 0x5a /* Z */) {
        owed--;
        status = String.fromCharCode(m[5]);
        if (owed === 0) caughtUp?.();
      }
    }
    client.write(chunk);
  });

  const answerLocally = async (sql: string) => {
    if (owed > 0) await new Promise<void>((resolve) => (caughtUp = resolve));
    caughtUp = undefined;
    let reply: Buffer;
    try {
      if (status !== 'I') throw new SqlError('25001', 'AWS IAM statements cannot run inside a transaction block');
      const tag = await opts.mappings.run(parseAwsIamStatement(sql), opts.user);
      opts.log(`${tag} by ${JSON.stringify(opts.user)}`);
      reply = message('C', Buffer.from(`${tag}\0`, 'utf8'));
    } catch (err) {
      const e = err instanceof SqlError ? err : new SqlError('XX000', (err as Error).message);
      opts.log(`refused AWS IAM statement by ${JSON.stringify(opts.user)}: ${e.message}`);
      reply = sqlErrorMessage(e.code, e.message);
    }
    client.write(Buffer.concat([reply, message('Z', Buffer.from(status, 'latin1'))]));
  };

  const onClientData = (chunk: Buffer) => {
    for (const m of fromClient.push(chunk)) {
      const type = String.fromCharCode(m[0]);
      queue = queue.then(async () => {
        if (type === 'Q') {
          const sql = m.subarray(5, m.length - 1).toString('utf8');
          if (isAwsIamStatement(sql)) return answerLocally(sql);
        }
        if (type === 'Q' || type === 'S' || type === 'F') owed++;
        backend.write(m);
      });
    }
  };
  client.on('data', onClientData);
  if (opts.pending.length) onClientData(opts.pending);
  client.resume();
}

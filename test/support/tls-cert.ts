import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';

const run = promisify(execFile);

export interface TlsCert {
  caPem: string;
  certPem: string;
  keyPem: string;
  /** Path of the CA certificate, for NODE_EXTRA_CA_CERTS / PGSSLROOTCERT in a child process. */
  caFile: string;
  /** Deletes the temp directory holding caFile (call when the endpoint stops). */
  remove(): void;
}

/**
 * A throwaway CA and a server certificate for `localhost` / `127.0.0.1`, made with the openssl CLI.
 *
 * Node has no certificate-generation API and we want no extra npm dependency. The server cert carries
 * what a verify-full client checks: SAN (DNS:localhost, IP:127.0.0.1), serverAuth EKU, and a chain to
 * a CA with basicConstraints CA:TRUE. EC P-256 keys keep generation to a few tens of milliseconds.
 */
export async function generateTlsCert(opts: { hosts?: string[] } = {}): Promise<TlsCert> {
  const names = opts.hosts ?? ['localhost', '127.0.0.1'];
  const san = names.map((n) => (/^[\d.]+$/.test(n) || n.includes(':') ? `IP:${n}` : `DNS:${n}`)).join(',');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dsql-tls-'));
  const f = (name: string) => path.join(dir, name);
  const openssl = async (args: string[]) => {
    try {
      await run('openssl', args, { cwd: dir });
    } catch (err) {
      throw new Error(`openssl ${args[0]} failed (is /usr/bin/openssl installed?): ${(err as { stderr?: string }).stderr ?? err}`);
    }
  };
  try {
    // `req -x509` reads its extensions from a config section, hence a minimal config file for the CA.
    fs.writeFileSync(
      f('ca.cnf'),
      [
        '[req]',
        'distinguished_name=dn',
        '[dn]',
        '[v3_ca_local]',
        'basicConstraints=critical,CA:TRUE',
        'keyUsage=critical,keyCertSign,cRLSign',
        'subjectKeyIdentifier=hash',
      ].join('\n'),
    );
    fs.writeFileSync(
      f('server.ext'),
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
        `subjectAltName=${san}`,
        'authorityKeyIdentifier=keyid',
      ].join('\n'),
    );
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await openssl([
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=local-dsql-endpoint test CA',
      '-extensions',
      'v3_ca_local',
      '-config',
      'ca.cnf',
    ]);
    await openssl(['req', '-new', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${names[0]}`]);
    await openssl([
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-sha256',
      '-extfile',
      'server.ext',
      '-out',
      'server.pem',
    ]);
    const result = {
      caPem: fs.readFileSync(f('ca.pem'), 'utf8'),
      certPem: fs.readFileSync(f('server.pem'), 'utf8'),
      keyPem: fs.readFileSync(f('server.key'), 'utf8'),
      caFile: f('ca.pem'),
    };
    // Only the CA certificate needs to stay on disk (for child processes); drop the keys now.
    for (const name of fs.readdirSync(dir)) if (name !== 'ca.pem') fs.rmSync(f(name), { force: true });
    return { ...result, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Presets for `DsqlUrlSecretProps.urlParameters` (README: TLS: which clients verify the server).
 *
 * The default, `sslmode=require`, means different things to different clients: libpq (psql, psycopg,
 * the Ruby pg gem) encrypts without checking the certificate; node-postgres 8 and Prisma's adapter-pg
 * (pg-connection-string 2) verify it fully and print a SECURITY WARNING on each connect.
 */
export class UrlParameters {
  /**
   * `sslmode=verify-full`: every client checks that the server's certificate chains to a trusted root and
   * names the host. node-postgres and Prisma's adapter-pg verify against Node's own roots, which include the
   * Amazon roots DSQL's certificates chain to, with nothing else to set, and without the warning `require` prints.
   * libpq-based clients (psql, psycopg, Ruby pg) need a root store: with libpq 16 or later set
   * `PGSSLROOTCERT=system` in their environment (the system's roots), or point it at a CA bundle file; without
   * one they refuse to connect ("root certificate file ... does not exist").
   *
   * `sslrootcert=system` is left out of the URL on purpose: node-postgres and adapter-pg read sslrootcert as a
   * file name and fail with ENOENT on 'system' (brianc/node-postgres#3101), and libpq before 16 does the same.
   * @param extra other parameters to add (e.g. application_name); must not set sslmode
   */
  public static verifyFull(extra: { [key: string]: string } = {}): { [key: string]: string } {
    if ('sslmode' in extra) {
      throw new Error(
        `UrlParameters.verifyFull: extra sets sslmode='${extra.sslmode}', which the preset sets to verify-full; remove sslmode from extra`,
      );
    }
    return { sslmode: 'verify-full', ...extra };
  }

  private constructor() {}
}

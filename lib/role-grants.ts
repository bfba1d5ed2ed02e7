/**
 * The SQL grants a custom database role may be given by the role bootstrap,
 * as `<privileges> ON <object>`: a deliberately small grammar, checked in
 * full, so that nothing but a GRANT can ever reach the database. The
 * construct validates every grant at synth (DatabaseRole.custom), and the
 * bootstrap function parses it again and builds the statement itself, with
 * every identifier double-quoted: `GRANT <privileges> ON <object> TO "<role>"`.
 *
 * Not exported from the package entry point: shared by the construct and the
 * bootstrap function only.
 */

/** Unquoted PostgreSQL identifiers as DSQL folds them: lower case, at most 63 bytes. */
export const IDENTIFIER = /^[a-z_][a-z0-9_$]{0,62}$/;

/** The object forms accepted, and the privileges each can take (PostgreSQL's GRANT, the subset DSQL documents). */
const OBJECT_KINDS = {
  SCHEMA: { privileges: ['USAGE', 'CREATE'], qualified: false },
  'ALL TABLES IN SCHEMA': { privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'], qualified: false },
  'ALL SEQUENCES IN SCHEMA': { privileges: ['USAGE', 'SELECT', 'UPDATE'], qualified: false },
  TABLE: { privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'], qualified: true },
  SEQUENCE: { privileges: ['USAGE', 'SELECT', 'UPDATE'], qualified: true },
  DATABASE: { privileges: ['CONNECT', 'CREATE', 'TEMPORARY'], qualified: false },
} as const;
export type GrantObjectKind = keyof typeof OBJECT_KINDS;

/** A parsed grant: what `GRANT <privileges> ON <kind> <names>` says. */
export interface RoleGrant {
  /** Upper case, in the order written; `['ALL']` for ALL [PRIVILEGES]. */
  readonly privileges: readonly string[];
  readonly kind: GrantObjectKind;
  /** Object names; a qualified name (`app.orders`) is one entry with both parts. */
  readonly names: ReadonlyArray<readonly string[]>;
}

/** The form the errors teach. */
export const GRANT_FORM =
  "'<privileges> ON <object>', e.g. 'USAGE ON SCHEMA app' or 'SELECT, INSERT ON ALL TABLES IN SCHEMA app': privileges " +
  'from SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER, USAGE, CREATE, CONNECT, TEMPORARY or ALL; objects ' +
  'SCHEMA s, ALL TABLES IN SCHEMA s, ALL SEQUENCES IN SCHEMA s, TABLE [s.]t, SEQUENCE [s.]q or DATABASE d, with lower-case ' +
  'unquoted names (comma-separated for several)';

/**
 * Parses one grant; returns the reason it is refused as a string. Keywords
 * are case-insensitive; names must be lower-case unquoted identifiers.
 */
export function parseRoleGrant(text: string): RoleGrant | string {
  if (/[;'"`\\]|--|\/\*/.test(text)) return 'it contains a semicolon, quote, backslash or comment';
  const squashed = text.trim().replace(/\s+/g, ' ');
  if (/^GRANT\b/i.test(squashed)) return "it starts with GRANT: write only what follows it (the function adds 'GRANT' and 'TO <role>')";
  if (/\bTO\b/i.test(squashed)) return "it names a grantee: remove 'TO ...' (the grant always goes to this database role)";
  if (/\bWITH\b/i.test(squashed)) return 'WITH GRANT OPTION is not accepted: the role must not pass its privileges on';
  const on = squashed.search(/ ON /i);
  if (on < 0) return "it has no ' ON <object>' part";
  const privilegeText = squashed.slice(0, on).toUpperCase();
  const objectText = squashed.slice(on + 4);

  const kind = (Object.keys(OBJECT_KINDS) as GrantObjectKind[]).find((k) => objectText.toUpperCase().startsWith(`${k} `));
  // PostgreSQL's default object kind is TABLE: 'SELECT ON app.orders'.
  const namesText = kind === undefined ? objectText : objectText.slice(kind.length + 1);
  const objectKind: GrantObjectKind = kind ?? 'TABLE';
  const spec = OBJECT_KINDS[objectKind];

  let privileges: string[];
  if (/^ALL( PRIVILEGES)?$/.test(privilegeText)) {
    privileges = ['ALL'];
  } else {
    privileges = privilegeText.split(',').map((p) => p.trim());
    const normal = privileges.map((p) => (p === 'TEMP' ? 'TEMPORARY' : p));
    const unknown = normal.find((p) => !(spec.privileges as readonly string[]).includes(p));
    if (unknown !== undefined) {
      return unknown === ''
        ? 'its privilege list has an empty entry'
        : `${unknown} is not a privilege ${objectKind} takes (${spec.privileges.join(', ')} or ALL)`;
    }
    if (new Set(normal).size !== normal.length) return 'it lists a privilege twice';
    privileges = normal;
  }

  const names = namesText.split(',').map((n) => n.trim().split('.'));
  for (const parts of names) {
    const shown = parts.join('.');
    if (parts.length > (spec.qualified ? 2 : 1) || !parts.every((p) => IDENTIFIER.test(p))) {
      return `'${shown}' is not a ${spec.qualified ? '[schema.]name' : 'name'} of lower-case letters, digits, _ or $ for ${objectKind}`;
    }
  }
  return { privileges, kind: objectKind, names };
}

/** The grant in its normal form: upper-case keywords, single spaces, `, ` between list entries. */
export function formatRoleGrant(grant: RoleGrant): string {
  return `${grant.privileges.join(', ')} ON ${grant.kind} ${grant.names.map((n) => n.join('.')).join(', ')}`;
}

/** A PostgreSQL identifier in double quotes (the grammar already refuses quotes; doubled anyway). */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The statement the bootstrap runs: `GRANT <privileges> ON <kind> "<names>" TO "<role>"`. */
export function grantStatement(grant: RoleGrant, roleName: string): string {
  const names = grant.names.map((parts) => parts.map(quoteIdentifier).join('.')).join(', ');
  return `GRANT ${grant.privileges.join(', ')} ON ${grant.kind} ${names} TO ${quoteIdentifier(roleName)}`;
}

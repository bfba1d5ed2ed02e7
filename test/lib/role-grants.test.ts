import { formatRoleGrant, grantStatement, parseRoleGrant, RoleGrant } from '../../lib/role-grants';

const parsed = (text: string): RoleGrant => {
  const grant = parseRoleGrant(text);
  if (typeof grant === 'string') throw new Error(`refused: ${grant}`);
  return grant;
};

describe('role grants: <privileges> ON <object>', () => {
  test.each([
    ['USAGE ON SCHEMA app', 'USAGE ON SCHEMA app', 'GRANT USAGE ON SCHEMA "app" TO "app_rw"'],
    [
      'select,insert  on all tables in schema app',
      'SELECT, INSERT ON ALL TABLES IN SCHEMA app',
      'GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA "app" TO "app_rw"',
    ],
    ['USAGE, SELECT ON ALL SEQUENCES IN SCHEMA app, billing', 'USAGE, SELECT ON ALL SEQUENCES IN SCHEMA app, billing', null],
    [
      'SELECT ON app.orders, app.lines',
      'SELECT ON TABLE app.orders, app.lines',
      'GRANT SELECT ON TABLE "app"."orders", "app"."lines" TO "app_rw"',
    ],
    ['UPDATE ON TABLE orders', 'UPDATE ON TABLE orders', null],
    ['USAGE ON SEQUENCE app.order_id_seq', 'USAGE ON SEQUENCE app.order_id_seq', null],
    ['ALL PRIVILEGES ON SCHEMA app', 'ALL ON SCHEMA app', null],
    ['CONNECT, TEMP ON DATABASE postgres', 'CONNECT, TEMPORARY ON DATABASE postgres', null],
  ])('%p is accepted as %p', (text, normal, sql) => {
    const grant = parsed(text);
    expect(formatRoleGrant(grant)).toBe(normal);
    // The normal form parses to the same grant: the function parses what the construct wrote.
    expect(parsed(formatRoleGrant(grant))).toEqual(grant);
    if (sql !== null) expect(grantStatement(grant, 'app_rw')).toBe(sql);
  });

  test.each([
    ['SELECT ON app.t; DROP TABLE app.t', /semicolon/],
    ["SELECT ON TABLE 'app'", /quote/],
    ['SELECT ON TABLE "App"', /quote/],
    ['SELECT ON app.t -- comment', /comment/],
    ['SELECT ON app.t /* x */', /comment/],
    ['GRANT SELECT ON app.t', /starts with GRANT/],
    ['SELECT ON app.t TO other', /names a grantee/],
    ['SELECT ON app.t WITH GRANT OPTION', /WITH GRANT OPTION/],
    ['SELECT app.t', /no ' ON <object>' part/],
    ['EXECUTE ON SCHEMA app', /EXECUTE is not a privilege SCHEMA takes/],
    ['SELECT ON SCHEMA app', /SELECT is not a privilege SCHEMA takes \(USAGE, CREATE or ALL\)/],
    ['SELECT, ON app.t', /empty entry/],
    ['SELECT, SELECT ON app.t', /twice/],
    ['USAGE ON SCHEMA App', /'App' is not a name/],
    ['USAGE ON SCHEMA app.sub', /'app.sub' is not a name/],
    ['SELECT ON a.b.c', /'a.b.c' is not a \[schema.\]name/],
    ['SELECT ON ALL FUNCTIONS IN SCHEMA app', /is not a \[schema.\]name/],
    ['SELECT ON pg_catalog.pg_authid(x)', /is not a \[schema.\]name/],
  ])('%p is refused', (text, reason) => {
    expect(parseRoleGrant(text)).toEqual(expect.stringMatching(reason));
  });
});

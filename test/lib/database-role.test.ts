import { Token } from 'aws-cdk-lib';
import { DatabaseRole } from '../../lib';

describe('DatabaseRole', () => {
  test('ADMIN signs with DbConnectAdmin', () => {
    expect(DatabaseRole.ADMIN.name).toBe('admin');
    expect(DatabaseRole.ADMIN.isAdmin).toBe(true);
    expect(DatabaseRole.ADMIN.iamAction).toBe('dsql:DbConnectAdmin');
  });

  test('custom roles sign with DbConnect', () => {
    const role = DatabaseRole.custom('app_rw');
    expect(role.name).toBe('app_rw');
    expect(role.isAdmin).toBe(false);
    expect(role.iamAction).toBe('dsql:DbConnect');
  });

  test.each([
    ['', /'' is not a valid role name/],
    ['App', /'App' is not a valid role name: use 1-63 lower-case/],
    ['9lives', /'9lives' is not a valid role name/],
    ['a'.repeat(64), /is not a valid role name/],
    ['drop table', /is not a valid role name/],
  ])('rejects %p', (name, message) => {
    expect(() => DatabaseRole.custom(name)).toThrow(message);
  });

  test("custom('admin') points to DatabaseRole.ADMIN", () => {
    expect(() => DatabaseRole.custom('admin')).toThrow(/use DatabaseRole.ADMIN/);
  });
});

describe('DatabaseRole.custom options', () => {
  test('a custom role is bootstrapped by default, with no SQL grants; admin is never bootstrapped', () => {
    expect(DatabaseRole.custom('app_rw')).toMatchObject({ bootstrap: true, grants: [] });
    expect(DatabaseRole.ADMIN).toMatchObject({ bootstrap: false, grants: [] });
    expect(DatabaseRole.custom('app_rw', { bootstrap: false })).toMatchObject({ bootstrap: false, grants: [] });
  });

  test('grants are kept in their normal form', () => {
    const role = DatabaseRole.custom('app_rw', { grants: ['usage on schema app', 'SELECT,INSERT ON ALL TABLES IN SCHEMA app'] });
    expect(role.grants).toEqual(['USAGE ON SCHEMA app', 'SELECT, INSERT ON ALL TABLES IN SCHEMA app']);
  });

  test('a refused grant names the prop, the grant, why, and the form to write', () => {
    const refused = () => DatabaseRole.custom('app_rw', { grants: ['USAGE ON SCHEMA app', 'SELECT ON app.t; DROP ROLE admin'] });
    expect(refused).toThrow(/^DatabaseRole\.custom\('app_rw', \{ grants \}\): grant 2 'SELECT ON app\.t; DROP ROLE admin' is refused: /);
    expect(refused).toThrow(/: it contains a semicolon.*Write it as '<privileges> ON <object>', e\.g\. 'USAGE ON SCHEMA app'/);
    expect(() => DatabaseRole.custom('app_rw', { grants: [Token.asString({ Ref: 'Grant' })] })).toThrow(
      /grant 1 must be a literal string known at synth/,
    );
  });

  test('grants without the bootstrap are refused: nothing would run them', () => {
    expect(() => DatabaseRole.custom('app_rw', { bootstrap: false, grants: ['USAGE ON SCHEMA app'] })).toThrow(
      /bootstrap: false, grants \}\): grants are run by the bootstrap: remove bootstrap: false, or remove grants and run the GRANT /,
    );
  });
});

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

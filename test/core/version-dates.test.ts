import { versionCreationDates } from '../../core/version-dates';

describe('versionCreationDates', () => {
  test('follows NextToken through every page and skips versions without an id or a date', async () => {
    const d = (iso: string) => new Date(iso);
    const pages: Record<string, { Versions: Array<{ VersionId?: string; CreatedDate?: Date }>; NextToken?: string }> = {
      first: { Versions: [{ VersionId: 'a', CreatedDate: d('2030-01-01T00:00:00Z') }, { VersionId: 'x' }], NextToken: 'p2' },
      p2: { Versions: [{ CreatedDate: d('2030-01-02T00:00:00Z') }, { VersionId: 'b', CreatedDate: d('2030-01-03T00:00:00Z') }] },
    };
    const asked: Array<string | undefined> = [];

    const dates = await versionCreationDates(async (token) => {
      asked.push(token);
      return pages[token ?? 'first'];
    });

    expect(asked).toEqual([undefined, 'p2']);
    expect([...dates.entries()]).toEqual([
      ['a', d('2030-01-01T00:00:00Z')],
      ['b', d('2030-01-03T00:00:00Z')],
    ]);
  });
});

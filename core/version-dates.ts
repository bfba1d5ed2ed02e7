/** When each version of a secret was created, from every page of ListSecretVersionIds. */

export interface VersionListPage {
  readonly Versions?: ReadonlyArray<{ readonly VersionId?: string; readonly CreatedDate?: Date }>;
  readonly NextToken?: string;
}

/** Reads every page (`listPage(nextToken)` sends one ListSecretVersionIds call); versions without an id or date are left out. */
export async function versionCreationDates(
  listPage: (nextToken: string | undefined) => Promise<VersionListPage>,
): Promise<Map<string, Date>> {
  const dates = new Map<string, Date>();
  let nextToken: string | undefined;
  do {
    const page = await listPage(nextToken);
    for (const v of page.Versions ?? []) {
      if (v.VersionId !== undefined && v.CreatedDate !== undefined) dates.set(v.VersionId, new Date(v.CreatedDate));
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return dates;
}

/** Text helpers: short ids, tables. Redaction is core/redact.ts. */

/** The first 8 characters of a version id: enough to tell versions apart. */
export function shortId(id: string | undefined): string {
  return id === undefined ? '-' : id.slice(0, 8);
}

/** `ecs-svc/1234567890123456789` → `ecs-svc/12345678…`. */
export function shortDeploymentId(id: string | undefined): string {
  if (id === undefined) return '-';
  return id.length > 20 ? `${id.slice(0, 19)}…` : id;
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function table(rows: ReadonlyArray<readonly string[]>): string[] {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd(),
  );
}

/** Cuts a line to the terminal width, so a redraw never wraps and miscounts lines. */
export function fit(line: string, columns: number | undefined): string {
  if (!columns || columns < 10 || line.length <= columns) return line;
  return `${line.slice(0, columns - 1)}…`;
}

/** ISO-8601 in UTC without milliseconds. */
export function isoSeconds(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Durations on the command line (`90s`, `30m`, `1h30m`, `500ms`, a bare number of seconds) and
 * durations for people (`7h 48m`, `in 3m`, `12s ago`).
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;

/** Parses a duration; returns undefined when `text` is not one (the caller says which option). */
export function parseDuration(text: string): number | undefined {
  const s = text.trim().toLowerCase();
  if (s === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1_000); // bare number: seconds
  let total = 0;
  let consumed = 0;
  PART.lastIndex = 0;
  for (let m = PART.exec(s); m !== null; m = PART.exec(s)) {
    total += Number(m[1]) * UNIT_MS[m[2]];
    consumed = PART.lastIndex;
  }
  if (consumed !== s.length || !Number.isFinite(total)) return undefined;
  return Math.round(total);
}

/** `8h`, `7h 48m`, `1d 2h`, `45s`, `800ms`: the largest unit and the next one if it is not zero. */
export function formatDuration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1_000) return `${Math.round(abs)}ms`;
  let rest = Math.floor(abs / 1_000);
  const values = (
    [
      ['d', 86_400],
      ['h', 3_600],
      ['m', 60],
      ['s', 1],
    ] as const
  ).map(([unit, size]) => {
    const n = Math.floor(rest / size);
    rest -= n * size;
    return `${n}${unit}`;
  });
  const first = values.findIndex((v) => !v.startsWith('0'));
  const next = values[first + 1];
  return next === undefined || next.startsWith('0') ? values[first] : `${values[first]} ${next}`;
}

/** `in 7h 48m` for a future moment, `12m ago` for a past one. */
export function relative(at: Date, now: number): string {
  const diff = at.getTime() - now;
  if (Math.abs(diff) < 1_000) return 'now';
  return diff > 0 ? `in ${formatDuration(diff)}` : `${formatDuration(diff)} ago`;
}

/** `0:07`, `12:34`, `1:02:03`: elapsed time on the live display. */
export function clock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1_000));
  const h = Math.floor(total / 3_600);
  const m = Math.floor((total % 3_600) / 60);
  const s = total % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

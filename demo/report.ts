/**
 * Output for the demo: plain lines that read well in a terminal and in a CI log.
 *
 * - Colour only when stdout is a TTY and NO_COLOR is not set.
 * - On a TTY, a transient status line shows what is running right now; it is replaced by the final
 *   line. Without a TTY only final lines are printed, so a log stays clean.
 * - Everything written to stdout/stderr is recorded, so the leak check can scan exactly what a user saw.
 */

const useColour = Boolean(process.stdout.isTTY) && !('NO_COLOR' in process.env);
const isTty = Boolean(process.stdout.isTTY);

const paint = (code: string) => (s: string) => (useColour ? `\x1b[${code}m${s}\x1b[0m` : s);
export const c = {
  bold: paint('1'),
  dim: paint('2'),
  red: paint('31'),
  green: paint('32'),
  yellow: paint('33'),
  cyan: paint('36'),
};

/** A failure the demo explains in one line (no stack trace). */
export class DemoError extends Error {}

export const OK = c.green('✓');
export const FAIL = c.red('✗');
export const ARROW = '→';

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

export class Output {
  /** Everything written to stdout and stderr by this process, ANSI codes removed. */
  private readonly recorded: string[] = [];
  private transient = false;

  constructor() {
    // Tee both streams (our lines, and anything a library prints) into the record.
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write.bind(stream) as (...args: unknown[]) => boolean;
      (stream as { write: unknown }).write = (chunk: unknown, ...rest: unknown[]) => {
        this.recorded.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
        return original(chunk, ...rest);
      };
    }
  }

  private muted = false;

  /** Drop every later line (after an interrupt, the tour's remaining output would only confuse). */
  mute(): void {
    this.clearStatus();
    this.muted = true;
  }

  /** A final line. */
  line(text = ''): void {
    if (this.muted) return;
    this.clearStatus();
    process.stdout.write(`${text}\n`);
  }

  /** A heading for one part of the tour. */
  section(title: string): void {
    this.line();
    this.line(c.bold(title));
  }

  /** What is running now (TTY only; replaced by the next line). */
  status(text: string): void {
    if (!isTty || this.muted) return;
    this.clearStatus();
    // One terminal row at most, or the next \r would only clear the last row of a wrapped line.
    const width = Math.max(20, (process.stdout.columns || 80) - 1);
    const line = `  … ${text}`;
    process.stdout.write(c.dim(line.length > width ? `${line.slice(0, width - 1)}…` : line));
    this.transient = true;
  }

  clearStatus(): void {
    if (!this.transient) return;
    process.stdout.write('\r\x1b[2K');
    this.transient = false;
  }

  /** All recorded output as plain text. */
  text(): string {
    return this.recorded.join('').replace(ANSI, '');
  }

  /** Final lines printed so far (transient status lines are not lines). */
  lineCount(): number {
    return this.text().split('\n').length - 1;
  }
}

/** First 8 characters of a version id (a UUID). */
export const shortId = (id: string): string => id.slice(0, 8);

/** `postgres://admin:****@host:port/db?query`: the token never appears. */
export function maskUrl(url: string): string {
  const userInfo = /^(postgres(?:ql)?:\/\/[^:@/]*:)[^@]*@/;
  if (userInfo.test(url)) return url.replace(userInfo, '$1****@');
  // No user:password@ part: nothing to mask, unless something password-like hides elsewhere.
  return url.includes('@') ? '<URL not printed: unexpected format>' : url;
}

/** 12.3 s / 845 ms */
export function ms(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`;
}

/** 2025-06-01 12:00:01Z */
export function isoSeconds(d: Date | string): string {
  return new Date(d)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

/** 12:00:01.234Z */
export function timeMs(d: Date | string): string {
  return new Date(d).toISOString().slice(11);
}

/** 7h 59m */
export function duration(msLeft: number): string {
  if (msLeft <= 0) return 'expired';
  const minutes = Math.floor(msLeft / 60_000);
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h > 0 ? `${h}h ${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m` : `${Math.floor(msLeft / 1000)}s`;
}

/** Pads the visible text (ANSI codes excluded) to `width`. */
export function pad(text: string, width: number): string {
  const visible = text.replace(ANSI, '').length;
  return visible >= width ? text : text + ' '.repeat(width - visible);
}

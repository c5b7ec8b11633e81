/**
 * What `upload` tells a person while it works, on stderr (stdout carries only URLs, so scripts
 * can capture them). On a terminal: one line, redrawn at most 10 times a second, with messages
 * that matter (failures, retries, skipped links) printed above it. Elsewhere (CI logs): one line
 * per file, because a log cannot redraw.
 */
export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const REDRAW_MS = 100;

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export class Progress {
  private filesDone = 0;
  private bytesDone = 0;
  private lastDraw = 0;
  private drawn = false;
  readonly started = Date.now();

  constructor(
    private readonly out: ProgressOutput,
    private readonly totals: { files: number; bytes: number },
    /** Applied to every line written: the token must never reach a log. */
    private readonly redact: (text: string) => string,
  ) {}

  private get tty(): boolean {
    return this.out.isTTY === true;
  }

  bytes(delta: number): void {
    this.bytesDone += delta;
    this.redraw(false);
  }

  /** A finished file; `line` is shown per file off a terminal, `always` shows it on one too. */
  fileDone(line: string, always = false): void {
    this.filesDone++;
    if (!this.tty || always) this.message(line);
    else this.redraw(false);
  }

  /** A line that stays (a warning, a retry, a failure). */
  message(line: string): void {
    if (this.tty && this.drawn) this.out.write('\r\x1b[K');
    this.out.write(`${this.redact(line)}\n`);
    this.drawn = false;
    this.redraw(true);
  }

  /** Removes the progress line, for the summary to take its place. */
  finish(): { ms: number; bytes: number } {
    if (this.tty && this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
    return { ms: Date.now() - this.started, bytes: this.bytesDone };
  }

  private redraw(force: boolean): void {
    if (!this.tty) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    const seconds = Math.max((now - this.started) / 1000, 0.001);
    const line =
      `${this.filesDone}/${this.totals.files} files, ` +
      `${formatBytes(this.bytesDone)} of ${formatBytes(this.totals.bytes)}, ${formatBytes(Math.round(this.bytesDone / seconds))}/s`;
    const width = Math.max((this.out.columns || 80) - 1, 20); // 0 when the terminal does not say
    this.out.write(`\r\x1b[K${line.slice(0, width)}`);
    this.drawn = true;
  }
}

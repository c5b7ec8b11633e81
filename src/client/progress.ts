/**
 * What the client tells a person while it works, written to any stream (the command gives it
 * stderr: stdout carries only URLs and keys, so scripts can capture them). Every line goes
 * through `redact`: the token must never reach a log.
 *
 * - Progress, for uploads of many files: on a terminal, one line redrawn at most 10 times a
 *   second, with messages that matter (failures, retries, skipped links) printed above it;
 *   elsewhere (CI logs), one line per file, because a log cannot redraw.
 * - Steps, for caches: a cache is a few long steps (archive, upload; download, verify, check,
 *   extract), not many files, so one bar per step on a terminal and one line per finished step
 *   elsewhere (a line per file of a node_modules tree would be 100,000 lines of CI log).
 *
 * Not a library such as cli-progress: off a terminal it redraws on a timer instead of printing
 * a line per finished item, and these lines are the command's output, which tests and CI logs
 * read; the drawing is the dozen lines of `draw` below.
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

/** "1 file", "2 files"; `many` for the words that do not just take an s ("1 entry", "2 entries"). */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** A tree's entries as the cache lines count them: "4 files, 12 directories and links". */
export function entryCounts(files: number, others: number): string {
  return `${plural(files, 'file')}, ${plural(others, 'directory or link', 'directories and links')}`;
}

/** What a retry says, whatever is retried: a file, a look-up, a part. */
export function retryLine(what: string, reason: string, delayMs: number): string {
  return `retrying ${what} in ${formatDuration(delayMs)}: ${reason}`;
}

/** A no-op output: what a program that imports the client and wants no progress passes. */
export const SILENT: ProgressOutput = { write: () => true };

/** Redraws the one progress line in place (terminals only): cut to the width, no wrapping. */
function draw(out: ProgressOutput, line: string): void {
  const width = Math.max((out.columns || 80) - 1, 20); // 0 when the terminal does not say
  out.write(`\r\x1b[K${line.slice(0, width)}`);
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
    draw(this.out, line);
    this.drawn = true;
  }
}

export class Steps {
  private drawn = false;

  constructor(
    private readonly out: ProgressOutput,
    /** Applied to every line written: the token must never reach a log. */
    private readonly redact: (text: string) => string,
  ) {}

  /** A line that stays. */
  message(line: string): void {
    this.clear();
    this.out.write(`${this.redact(line)}\n`);
  }

  /** Starts a step of `total` bytes (0 when unknown); finish it with Step.done. */
  start(label: string, total: number): Step {
    return new Step(this, label, total);
  }

  /** @internal */
  draw(line: string): void {
    if (this.out.isTTY !== true) return;
    draw(this.out, this.redact(line));
    this.drawn = true;
  }

  private clear(): void {
    if (this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
  }
}

export class Step {
  private done_ = 0;
  private lastDraw = 0;
  readonly started = Date.now();

  constructor(
    private readonly steps: Steps,
    private readonly label: string,
    private total: number,
  ) {
    this.redraw(true);
  }

  add(delta: number): void {
    this.done_ += delta;
    this.redraw(false);
  }

  /** Sets the bytes done (for a counter that is already a running total). */
  set(value: number): void {
    this.done_ = value;
    this.redraw(false);
  }

  /** Rolls back an attempt that is going to be retried. */
  reset(total = this.total): void {
    this.done_ = 0;
    this.total = total;
    this.redraw(true);
  }

  get ms(): number {
    return Date.now() - this.started;
  }

  /** Ends the step with the line that stays; `{ms}` in it becomes the step's duration. */
  done(line: string): void {
    this.steps.message(line.replace('{ms}', formatDuration(this.ms)));
  }

  private redraw(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    const seconds = Math.max((now - this.started) / 1000, 0.001);
    const rate = `${formatBytes(Math.round(this.done_ / seconds))}/s`;
    const shown = this.total > 0 ? Math.min(this.done_, this.total) : this.done_;
    const amount = this.total > 0 ? `${Math.floor((shown / this.total) * 100)}% ${formatBytes(shown)} of ${formatBytes(this.total)}` : formatBytes(shown);
    this.steps.draw(`${this.label} ${amount}, ${rate}`);
  }
}

/**
 * What `cache save` and `cache restore` tell a person, on stderr: a cache is a few long steps
 * (archive, upload; download, verify, check, extract), not many files, so this is one bar per
 * step on a terminal and one line per finished step elsewhere. upload's Progress counts files and
 * prints one line per file off a terminal, which for a node_modules tree would be 100,000 lines
 * of CI log; its formatting and redraw conventions are reused.
 */
import { formatBytes, formatDuration, type ProgressOutput } from './upload-progress';

const REDRAW_MS = 100;

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
    const width = Math.max((this.out.columns || 80) - 1, 20);
    this.out.write(`\r\x1b[K${this.redact(line).slice(0, width)}`);
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

export { formatBytes, formatDuration };

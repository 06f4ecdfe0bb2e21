/**
 * The proxy's own log (not the access log): levels settable at runtime through the admin API
 * (`/logging?level=debug`), one JSON line per message on stderr so it never mixes with the access
 * log on stdout. Never pass keys or tokens to it.
 */

/** Log levels, most to least severe. */
export const LOG_LEVELS = ['off', 'error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A leveled logger whose level can change while the proxy runs. */
export class ProxyLog {
  private rank: number;
  constructor(
    level: LogLevel = 'info',
    private readonly sink: (line: string) => void = (l) => void process.stderr.write(l),
  ) {
    this.rank = LOG_LEVELS.indexOf(level);
  }

  get level(): LogLevel {
    return LOG_LEVELS[this.rank]!;
  }

  set level(level: LogLevel) {
    this.rank = LOG_LEVELS.indexOf(level);
  }

  /** Whether messages of `level` are written (check before building expensive messages). */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) <= this.rank && level !== 'off';
  }

  error(msg: string, fields?: Record<string, unknown>): void {
    this.write('error', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.write('warn', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.write('info', msg, fields);
  }
  debug(msg: string, fields?: Record<string, unknown>): void {
    this.write('debug', msg, fields);
  }

  private write(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (!this.enabled(level)) return;
    this.sink(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }) + '\n');
  }
}

/** Whether `s` names a log level. */
export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

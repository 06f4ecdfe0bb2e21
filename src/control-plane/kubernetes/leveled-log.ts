/**
 * The control plane's log with levels, so `--log-level` (the Deployment's `controlPlane.logLevel`)
 * filters what it writes. Before this every line went out whatever the flag said: the modules shared
 * with the local platform (push pipeline, config stream, CA service) log plain strings, and nothing
 * between them and stderr looked at a level.
 *
 * The daemon's own messages say their level (`log.info(...)`, `log.warn(...)`); plain lines from the
 * shared modules go through `log.line`, which reads the level off the line: a refusal or a failure is a
 * warning, a push record is debug (one per config change per replica: noise at info on a busy
 * cluster), everything else info. Each written line carries its level after the timestamp.
 */

/** Levels, least to most severe. */
export const CONTROL_PLANE_LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** One of CONTROL_PLANE_LOG_LEVELS. */
export type ControlPlaneLogLevel = (typeof CONTROL_PLANE_LOG_LEVELS)[number];

/** Whether a string names a level. */
export function isControlPlaneLogLevel(value: string): value is ControlPlaneLogLevel {
  return (CONTROL_PLANE_LOG_LEVELS as readonly string[]).includes(value);
}

/** The level of a plain line from a module that does not say one. */
export function levelOfLine(line: string): ControlPlaneLogLevel {
  if (/\b(refused|rejected|failed|denied|error|retrying)\b/i.test(line)) return 'warn';
  if (/^push \S+:/.test(line)) return 'debug';
  return 'info';
}

/** A log that writes only lines at or above its level. */
export interface LeveledLog {
  readonly level: ControlPlaneLogLevel;
  debug(line: string): void;
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
  /** For modules that log plain strings: the level is read off the line (levelOfLine). */
  readonly line: (line: string) => void;
}

/** A log at `level` writing `<level> <line>` to `write` (which adds the timestamp and newline). */
export function leveledLog(level: ControlPlaneLogLevel, write: (line: string) => void): LeveledLog {
  const threshold = CONTROL_PLANE_LOG_LEVELS.indexOf(level);
  const at =
    (l: ControlPlaneLogLevel) =>
    (line: string): void => {
      if (CONTROL_PLANE_LOG_LEVELS.indexOf(l) >= threshold) write(`${l} ${line}`);
    };
  const byLevel = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { level, ...byLevel, line: (line: string) => byLevel[levelOfLine(line)](line) };
}

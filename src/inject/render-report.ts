/** Renders an inject/uninject report for stderr, in linkerd's style. */
import type { ChalkInstance } from 'chalk';
import { Reason, reportLine, type ReportEntry } from './report.js';

const REASON_TEXT: Partial<Record<string, string>> = {
  [Reason.NoKind]: 'it has no kind; passed through unchanged',
  [Reason.InjectionDisabled]: 'opted out with meshctl.dev/inject: disabled (or sidecar.istio.io/inject: "false")',
  [Reason.NotInjected]: 'it was not injected',
};

/** One line per object (`deployment "web" injected`), then its warnings. */
export function renderReport(entries: readonly ReportEntry[], style: ChalkInstance, currentVersion: string): string {
  let out = '';
  for (const e of entries) {
    if (e.outcome === 'refused') continue;
    const why =
      e.outcome === 'skipped'
        ? e.reasons
            .map((r) => REASON_TEXT[r])
            .filter(Boolean)
            .join('; ')
        : '';
    const line =
      reportLine(e) +
      (why ? ` (${e.source}): ${why}` : '') +
      (e.note && e.note !== 're-injected over meshctl ' + currentVersion ? ` (${e.note})` : '');
    out += (e.outcome === 'injected' || e.outcome === 'uninjected' ? line : style.dim(line)) + '\n';
    for (const w of e.warnings) out += style.yellow(`  warning: ${w}`) + '\n';
  }
  return out;
}

/** The error lines of refused objects. */
export function renderRefusals(entries: readonly ReportEntry[], style: ChalkInstance): string {
  return entries
    .filter((e) => e.error)
    .map((e) => `${style.red('Error:')} ${e.error!.message}\n  hint: ${e.error!.hint}\n`)
    .join('');
}

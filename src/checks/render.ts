/** Renderers of check results: linkerd-style table, JSON, and short (only what needs attention). */
import type { ChalkInstance } from 'chalk';
import { Symbols } from '../ui/style.js';
import type { CheckReport, CheckResult } from './types.js';

/** The output formats of `meshctl check`. */
export type CheckFormat = 'table' | 'json' | 'short';

function symbol(r: CheckResult, style: ChalkInstance): string {
  switch (r.status) {
    case 'ok':
      return style.green(Symbols.ok);
    case 'warning':
      return style.yellow(Symbols.warn);
    case 'failure':
      return style.red(Symbols.fail);
    default:
      return style.dim('-');
  }
}

/** One check as lines: `✔ description`, with message and hint lines under failures and warnings. */
export function renderResult(r: CheckResult, style: ChalkInstance): string {
  const note = r.status === 'ok' && r.message ? style.dim(` (${r.message})`) : '';
  let out = `${symbol(r, style)} ${r.description}${note}\n`;
  if (r.status === 'failure' || r.status === 'warning') {
    if (r.message) out += `    ${r.message.split('\n').join('\n    ')}\n`;
    if (r.hint) out += `    ${style.cyan('hint:')} ${r.hint}\n`;
  }
  return out;
}

/** The header printed before a category's first check. */
export function renderCategoryHeader(category: string): string {
  return `${category}\n${'-'.repeat(category.length)}\n`;
}

/** The final line: `Status check results are ✔` (or ✖). */
export function renderVerdict(report: CheckReport, style: ChalkInstance): string {
  return `Status check results are ${report.success ? style.green(Symbols.ok) : style.red(Symbols.fail)}\n`;
}

/** The whole report as a table (for non-streaming use). */
export function renderTable(report: CheckReport, style: ChalkInstance): string {
  let out = '';
  let current: string | undefined;
  for (const r of report.results) {
    if (r.category !== current) {
      out += (current === undefined ? '' : '\n') + renderCategoryHeader(r.category);
      current = r.category;
    }
    out += renderResult(r, style);
  }
  return out + '\n' + renderVerdict(report, style);
}

/** Only failures and warnings, then the verdict. */
export function renderShort(report: CheckReport, style: ChalkInstance): string {
  const attention = report.results.filter((r) => r.status === 'failure' || r.status === 'warning');
  return attention.map((r) => renderResult(r, style)).join('') + renderVerdict(report, style);
}

/** JSON in the shape of `linkerd check -o json`: categories, each with its checks. */
export function renderJson(report: CheckReport): string {
  const categories: { categoryName: string; checks: object[] }[] = [];
  for (const r of report.results) {
    let c = categories.find((x) => x.categoryName === r.category);
    if (!c) categories.push((c = { categoryName: r.category, checks: [] }));
    c.checks.push({
      description: r.description,
      result: r.status === 'ok' ? 'success' : r.status,
      ...(r.message ? { message: r.message } : {}),
      ...(r.hint && r.status !== 'ok' ? { hint: r.hint } : {}),
    });
  }
  return JSON.stringify({ success: report.success, categories }, null, 2) + '\n';
}

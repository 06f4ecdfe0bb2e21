/** Compiled string and header conditions (Istio StringMatch semantics; regex is RE2, full match). */
import { re2 } from '../../../config/re2.js';
import type { HeaderMatchConfig, StringMatchConfig } from '../../../protocol/proxy-config/index.js';

/** A compiled predicate over a possibly-missing value. */
export type ValuePredicate = (value: string | undefined) => boolean;

/** Compiles exact / prefix / regex. */
export function compileStringMatch(m: StringMatchConfig, ignoreCase = false): ValuePredicate {
  if (m.exact !== undefined) {
    const want = ignoreCase ? m.exact.toLowerCase() : m.exact;
    return ignoreCase ? (v) => v !== undefined && v.toLowerCase() === want : (v) => v === want;
  }
  if (m.prefix !== undefined) {
    const want = ignoreCase ? m.prefix.toLowerCase() : m.prefix;
    return ignoreCase
      ? (v) => v !== undefined && v.toLowerCase().startsWith(want)
      : (v) => v !== undefined && v.startsWith(want);
  }
  const RE2 = re2();
  const re = RE2.compile(m.regex!, ignoreCase ? RE2.CASE_INSENSITIVE : 0);
  return (v) => v !== undefined && re.matches(v);
}

/** Compiles a header condition, including presence / absence. */
export function compileHeaderMatch(m: HeaderMatchConfig): ValuePredicate {
  if (m.present !== undefined) return m.present ? (v) => v !== undefined : (v) => v === undefined;
  return compileStringMatch(m as StringMatchConfig);
}

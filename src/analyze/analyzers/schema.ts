/** Turns parse failures and validation issues (schema, regex, percentages, unsupported fields...) into findings. */
import type { IssueRule } from '../../config/index.js';
import type { Analyzer } from '../context.js';
import { Messages, type MessageType } from '../messages.js';

/** The message type of a validation issue (what `apply` prints for its warnings too). */
export function typeFor(rule: IssueRule, severity: 'error' | 'warning' | 'info'): MessageType {
  switch (rule) {
    case 'regex':
      return Messages.InvalidRegex;
    case 'percent':
      return Messages.PercentageOutOfRange;
    case 'duration':
      return Messages.InvalidDuration;
    case 'unsupported':
      return Messages.UnsupportedField;
    case 'deprecated':
      return Messages.DeprecatedField;
    case 'wrong-group':
      return Messages.WrongApiGroup;
    case 'not-mesh-kind':
      return Messages.NotMeshKind;
    case 'unhonoured-kind':
      return Messages.UnhonouredKind;
    case 'unknown-field':
      return severity === 'error' ? Messages.SchemaError : Messages.UnknownField;
    case 'schema':
    case 'too-large':
    case 'header':
      return Messages.SchemaError;
  }
}

/** Findings for everything validation reported. */
export const schemaAnalyzer: Analyzer = {
  name: 'schema',
  run(ctx) {
    for (const f of ctx.input.parseFailures) {
      ctx.reportAt(
        Messages.InputParseError,
        f.position,
        `${f.message} (column ${f.position.column}); fix the syntax there`,
      );
    }
    for (const r of ctx.input.resources) {
      const v = r.validation;
      for (const issue of [...v.errors, ...v.warnings, ...v.notes]) {
        ctx.report(
          typeFor(issue.rule, issue.severity),
          r,
          `${issue.field ? `${issue.field}: ` : ''}${issue.message}`,
          issue.path,
        );
      }
    }
  },
};

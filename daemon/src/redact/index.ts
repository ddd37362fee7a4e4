// Redaction of secrets in command lines and captured buffers, in the daemon (docs/security.md).

import { checkRedactFlags } from '../../../gadgets/framework/redact-patterns.js';
import { compileUserPatterns, Redactor } from './patterns.js';

export { BUILTIN_PATTERNS, REDACTED, Redactor, compileUserPatterns } from './patterns.js';
export { RedactingRuntime } from './runtime.js';
export { REDACTABLE, recordRedaction } from './records.js';

export interface RedactOptions {
  /** --redact / --no-redact; undefined: on in Kubernetes mode (or when patterns are given) */
  redact?: boolean;
  /** --redact-pattern, repeatable */
  redactPatterns?: readonly string[];
  kubernetes?: boolean;
}

/**
 * The daemon's redactor, or undefined when redaction is off. Validates the user's patterns
 * first (a one-line error for a bad one), so a typo stops the daemon before it loads anything.
 */
export async function redactorFor(o: RedactOptions): Promise<Redactor | undefined> {
  const patterns = o.redactPatterns ?? [];
  checkRedactFlags(o.redact, patterns);
  const user = await compileUserPatterns(patterns);
  const on = o.redact ?? (o.kubernetes === true || patterns.length > 0);
  if (!on && o.kubernetes) {
    process.stderr.write(
      'warning: redaction is off (--no-redact): secrets in command lines and buffers leave the node\n',
    );
  }
  return on ? new Redactor(user) : undefined;
}

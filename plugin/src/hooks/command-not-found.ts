// oclif's command_not_found hook: a mistyped command (`trace exce`) fails with one line that
// names the closest commands, exit 1 (plugin/src/errors.ts prints it).

import type { Hook } from '@oclif/core';
import { closeMatches, editDistance } from '#gadgets/traceloop/table.js';
import { UserError } from '../errors.js';

const words = (s: string): number => s.split(' ').length;

/**
 * The error for an unknown command id ("trace:exce"), with up to three suggestions among
 * `commands` (and topics), those with as many words as typed first: "trace" is no answer to
 * "trace exce".
 */
export function unknownCommand(id: string, commands: readonly string[]): UserError {
  const typed = id.replace(/:/g, ' ');
  const same = commands.filter((c) => words(c) === words(typed));
  let close = closeMatches(typed, same, 3);
  if (close.length === 0) {
    // under a known topic ("trace bogus"), name that topic's commands rather than the topic
    const topic = typed.slice(0, typed.lastIndexOf(' '));
    const inTopic = topic ? [...new Set(commands.filter((c) => c.startsWith(topic + ' ')))] : [];
    if (inTopic.length) {
      return new UserError(
        `unknown command "${typed}": the ${topic} commands are ${inTopic.join(', ')} (see: kubectl gadget ${topic} --help)`,
      );
    }
    close = closeMatches(typed, commands, 3);
  }
  // only the closest: "advise network-polcy monitor" is not "... report"
  const best = Math.min(...close.map((c) => editDistance(typed, c)));
  close = close.filter((c) => editDistance(typed, c) <= best + 1);
  const suggest = close.length ? `: did you mean ${close.map((c) => `"${c}"`).join(' or ')}?` : '';
  return new UserError(`unknown command "${typed}"${suggest} (see: kubectl gadget --help)`);
}

const hook: Hook<'command_not_found'> = async function (opts) {
  const ids = [
    ...opts.config.commands.filter((c) => !c.hidden).map((c) => c.id),
    ...opts.config.topics.filter((t) => !t.hidden).map((t) => t.name),
  ];
  throw unknownCommand(
    opts.id,
    ids.map((i) => i.replace(/:/g, ' ')),
  );
};

export default hook;

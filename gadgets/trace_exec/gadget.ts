// trace exec: every successful and failed execve/execveat on the node.

import { COMMON_HIDDEN_COLUMNS, COMMON_LEADING_COLUMNS } from '../framework/columns.js';
import { errnoName } from '../framework/linux.js';
import { field, fieldTransform } from '../framework/fields.js';
import { KERNEL_FILTER_FIELDS } from '../framework/pushdown.js';
import type { GadgetDescriptor } from '../framework/types.js';
import { boolParam, fieldOffset } from '../framework/params.js';

export const descriptor: GadgetDescriptor = {
  command: ['trace', 'exec'],
  name: 'trace_exec',
  description: 'Trace new processes: every execve/execveat, successful or failed',
  docs: `Successful execs come from tp_btf/sched_process_exec, with argv read from the new
process image (complete, up to 16 KiB in total; failed execs also keep at most 1024 arguments); failed ones from the syscall's exit.
Covers execve and execveat, including fileless exec (a memfd with AT_EMPTY_PATH) and exec
from a non-leader thread (\`tid\` is the thread that called exec; after it, that process's
pid is its only thread).`,
  examples: [
    '--local',
    '--remote unix:///run/kubectl-gadget/gadget.sock -c web -o json',
    '--local -o columns=timestamp,pid,comm,args --timeout 10',
  ],
  params: [
    {
      name: 'ignore-failed',
      type: 'bool',
      default: 'false',
      description: 'Drop failed execs (in the kernel)',
    },
  ],
  // one loaded trace_exec serves every run on the node: the kernel drops failed execs only when
  // every run asked --ignore-failed, and a run that asked drops those another run wanted
  // -F on these runs in the kernel too (bpf/gadget.h GADGET_FIELD_FILTER)
  kernelFilterFields: KERNEL_FILTER_FIELDS,
  shared: {
    globals: (runs) => ({
      ignore_failed: runs.length > 0 && runs.every((p) => boolParam(p, 'ignore-failed')),
    }),
    recordFilter(params, layout) {
      if (!boolParam(params, 'ignore-failed')) return undefined;
      const retOff = fieldOffset(layout, 'ret');
      return (b, off, len) => len < retOff + 4 || b.readInt32LE(off + retOff) >= 0;
    },
  },
  columns: [
    ...COMMON_LEADING_COLUMNS,
    { name: 'pid', width: 7, align: 'right' },
    { name: 'ppid', width: 7, align: 'right' },
    { name: 'comm', width: 16 },
    { name: 'pcomm', width: 16 },
    { name: 'ret', width: 3, align: 'right' },
    { name: 'args', width: 24, flex: true },
    ...COMMON_HIDDEN_COLUMNS,
    { name: 'error', width: 7, hidden: true },
    { name: 'args_truncated', width: 5, hidden: true },
    { name: 'cwd', width: 16, hidden: true },
    { name: 'exepath', width: 16, hidden: true },
  ],
  // declared field by field, so -o json can be written straight from the record bytes
  transform: fieldTransform([
    field.copy('ppid'),
    field.copy('pcomm'),
    field.copy('ret'),
    field.map('error', ['ret'], errnoName),
    field.nulStrings('args', 'args'),
    field.map('args_truncated', ['args_truncated'], Boolean),
    field.copy('cwd'),
    field.copy('exepath'),
  ]),
};

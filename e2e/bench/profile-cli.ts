// Profiles the CLI in-process once its gadget is loaded (node --cpu-prof cannot be used: its
// SIGPROF interrupts the BPF verifier, and the load fails with EAGAIN).
//   node dist/e2e/bench/profile-cli.js OUT.cpuprofile DELAY_S SECONDS -- trace open --local -o json > file
// starts profiling DELAY_S seconds after the command started and writes OUT after SECONDS more.

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { flush, run } from '@oclif/core';
import { ROOT } from './setup.js';

const [out, delay, seconds, sep, ...argv] = process.argv.slice(2);
if (!out || !delay || !seconds || sep !== '--') {
  process.stderr.write('usage: profile-cli OUT.cpuprofile DELAY_S SECONDS -- ARGS...\n');
  process.exit(2);
}

const session = new Session();
session.connect();
setTimeout(
  () => {
    void (async () => {
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 200 });
      await session.post('Profiler.start');
      process.stderr.write('profile-cli: profiling\n');
      setTimeout(
        () => {
          void (async () => {
            const { profile } = await session.post('Profiler.stop');
            writeFileSync(out, JSON.stringify(profile));
            process.stderr.write(`profile-cli: wrote ${out}\n`);
          })();
        },
        Number(seconds) * 1000,
      );
    })();
  },
  Number(delay) * 1000,
);

await run(argv, join(ROOT, 'bin', 'run.js'));
await flush();
process.exit(0);

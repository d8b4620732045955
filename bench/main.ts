// `npm run bench -- <scenario> …` (node dist/bench/main.js): the benchmark instrument. A
// development tool with an entry of its own, since its libraries (socket.io, hdr-histogram-js, …)
// are devDependencies: the production `tsim` command never imports bench/.
import { Command } from 'commander';
import { registerScenarios } from './cli.js';
import { registerRecovery } from './scenarios/recovery-command.js';
import { registerScale } from './scenarios/scale-command.js';

const bench = new Command()
  .name('npm run bench --')
  .description('benchmarks: tsim (embedded, in a child process) against raw node:net and socket.io; JSON results in bench/results/')
  .showHelpAfterError();
registerScenarios(bench);
registerRecovery(bench);
registerScale(bench);

await bench.parseAsync(process.argv);

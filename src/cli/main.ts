// The `lifeline` command.

import { Command, CommanderError } from 'commander';
import { LifelineError } from '../common/errors.js';
import { registerAgentCommands } from './agent/index.js';
import { registerDemoCommand } from './demo.js';
import { registerHubCommands } from './hub/index.js';
import { registerTechnicianCommands } from './technician.js';
import { printError, tty } from './io.js';

const program = new Command('lifeline')
  .description('Lifeline: open remote support and call home for infrastructure appliances')
  .version('0.1.0')
  .showHelpAfterError()
  // `lifeline --version` only before a sub-command: after one, `--version V` is the sub-command's
  // own option (`hub fix publish`, `agent fix download`).
  .enablePositionalOptions()
  .exitOverride();

registerHubCommands(program);
registerAgentCommands(program);
registerTechnicianCommands(program);
registerDemoCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode;
  } else if (err instanceof LifelineError) {
    printError(tty`lifeline: ${err.message} (${err.code})`);
    process.exitCode = 1;
  } else {
    printError(tty`lifeline: internal error: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}

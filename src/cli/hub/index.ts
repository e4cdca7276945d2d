// `lifeline hub ...`: the hub operator's commands.
export { closeWithDeadline, registerHubCommands, waitForSignal, warnOfLooseModes } from './hub.js';

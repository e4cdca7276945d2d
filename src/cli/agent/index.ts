// `lifeline agent ...`: the appliance administrator's commands.
export { registerAgentCommands } from './agent.js';

// The collectors: heartbeat, inventory and performance reports on their schedules.
export { Collectors, startCollectors, type SystemView } from './collectors.js';
export { collectAppliance, submittedSystemsSchema, systemsListSchema } from './inventory.js';

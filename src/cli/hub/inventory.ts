// `lifeline hub inventory|performance STATION`: what a station reported of itself and its systems.

import type { Command } from 'commander';
import { parseDurationMs } from '../../common/config/index.js';
import { LifelineError } from '../../common/errors.js';
import { isStationId } from '../../protocol/index.js';
import { withStore } from './hub.js';
import { ago, printJson, printLine, printTable, tty } from '../io.js';

function checkStation(station: string): string {
  if (!isStationId(station))
    throw new LifelineError(
      'STATION_ID_INVALID',
      `expected a Station ID such as ST-ABCD-EFGH-J, got ${JSON.stringify(station)}`,
    );
  return station;
}

export function registerHubInventoryCommands(hub: Command): void {
  hub
    .command('inventory <station>')
    .description("a station's latest inventory: the appliance and its managed systems")
    .requiredOption('--data <dir>', 'hub data directory')
    .option('--json', 'print JSON')
    .action(async (station: string, opts: { data: string; json?: boolean }) => {
      const found = await withStore(opts.data, (store) =>
        store.health.latestInventory(checkStation(station)),
      );
      if (!found) throw new LifelineError('API_NOT_FOUND', `no inventory from station ${station} yet`);
      if (opts.json) {
        printJson(found);
        return;
      }
      const { appliance, systems } = found.inventory;
      const received = new Date(found.receivedAtMs).toISOString();
      printLine(
        tty`Station ${station}: inventory of ${new Date(found.createdAtMs).toISOString()}, received ${ago(received)} (report ${found.reportId})`,
      );
      printLine(tty`  host name  ${appliance.hostName}`);
      printLine(tty`  OS         ${appliance.os}, kernel ${appliance.kernel}`);
      printLine(tty`  CPU        ${appliance.cpu.count} x ${appliance.cpu.model}`);
      printLine(tty`  memory     ${Math.round(appliance.memoryBytes / 2 ** 20)} MiB`);
      printLine(tty`  Lifeline   ${appliance.lifelineVersion}`);
      if (appliance.model || appliance.serial)
        printLine(
          tty`  model      ${appliance.model ?? '-'}, serial ${appliance.serial ?? '-'}, firmware ${appliance.firmware ?? '-'}`,
        );
      printLine(tty`  digest     ${found.inventory.digest}`);
      if (systems.length === 0) {
        printLine(tty`No managed system.`);
        return;
      }
      printTable(
        systems.map((s) => ({
          serial: s.serial,
          type: s.type ?? '',
          model: s.model ?? '',
          firmware: Object.entries(s.firmware ?? {})
            .map(([component, level]) => `${component} ${level}`)
            .join(', '),
          parts: String(s.parts?.length ?? 0),
        })),
        ['serial', 'type', 'model', 'firmware', 'parts'],
      );
    });

  hub
    .command('performance <station>')
    .description("a station's performance samples: the host's, or a managed system's with --source")
    .requiredOption('--data <dir>', 'hub data directory')
    .option('--since <duration>', 'how far back, e.g. 1h or 7d', '24h')
    .option('--source <source>', "'host' or the serial of a managed system")
    .option('--json', 'print JSON')
    .action(
      async (station: string, opts: { data: string; since: string; source?: string; json?: boolean }) => {
        const untilMs = Date.now();
        const sinceMs = untilMs - parseDurationMs(opts.since, '--since');
        const samples = await withStore(opts.data, (store) =>
          store.health.performanceSamples(
            checkStation(station),
            sinceMs,
            untilMs,
            opts.source ? { source: opts.source } : {},
          ),
        );
        if (opts.json) {
          printJson(samples);
          return;
        }
        printTable(
          samples.map(({ source, sample }) => ({
            time: new Date(sample.atMs).toISOString(),
            source,
            'cpu %': sample.cpu ? String(sample.cpu.utilizationPct) : '',
            load: sample.load ? String(sample.load.one) : '',
            'memory MiB': sample.memory
              ? `${Math.round(sample.memory.usedBytes / 2 ** 20)}/${Math.round(sample.memory.totalBytes / 2 ** 20)}`
              : '',
            'net rx/tx B/s': (sample.network ?? [])
              .map((n) => `${n.name} ${Math.round(n.rxBytesPerSec)}/${Math.round(n.txBytesPerSec)}`)
              .join(', '),
            'disk r/w B/s': (sample.disks ?? [])
              .map((d) => `${d.name} ${Math.round(d.readBytesPerSec)}/${Math.round(d.writeBytesPerSec)}`)
              .join(', '),
          })),
          ['time', 'source', 'cpu %', 'load', 'memory MiB', 'net rx/tx B/s', 'disk r/w B/s'],
        );
      },
    );
}

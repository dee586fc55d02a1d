import type { Command } from 'commander';
import {
  checkAgainstConfig,
  createMaintenanceSchedule,
  deleteSchedule,
  listSchedules,
  NoSuchScheduleError,
  parseMaintenanceSchedule,
  pauseSchedule,
  ScheduleExistsError,
  triggerNow,
  unpauseSchedule,
} from '../../triggers/schedules';
import { CliError, EXIT } from '../errors';
import { fmtTime, table } from '../format';
import type { Cli } from '../session';

const ACTIONS = {
  pause: { run: pauseSchedule, done: 'paused', about: 'stop the schedule firing until unpaused' },
  unpause: { run: unpauseSchedule, done: 'unpaused', about: 'let a paused schedule fire again' },
  trigger: { run: triggerNow, done: 'triggered now (skipped if a run is still going)', about: 'run the maintenance now, once' },
  delete: { run: deleteSchedule, done: 'deleted', about: 'remove the schedule (a running maintenance runbook goes on)' },
} as const;

/** A time as the clock in `timeZone` shows it ("2026-12-06 03:00 Europe/Berlin"). */
export function localTime(at: Date, timeZone: string): string {
  const text = new Intl.DateTimeFormat('sv-SE', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  }).format(at);
  return `${text} ${timeZone}`;
}

/** `failover schedule maintenance …`: planned maintenance on Temporal Schedules. */
export function registerSchedule(program: Command, cli: Cli): void {
  const schedule = program.command('schedule').description('planned maintenance on Temporal Schedules');
  const maintenance = schedule.command('maintenance').description('maintenance schedules: drain a destination for a window, then restore it');

  maintenance
    .command('create')
    .description('create a schedule that runs the maintenance runbook')
    .argument('<service>', 'service name from the config')
    .argument('<destination>', 'destination to drain')
    .requiredOption('--window <duration>', 'how long it stays drained each time, e.g. 30m')
    .option('--cron <expr>', 'when, as cron (5-7 fields, @daily, @every 1h)')
    .option('--every <duration>', 'when, as a fixed interval, e.g. 6h')
    .option('--time-zone <iana>', 'time zone the cron is read in', 'UTC')
    .option('--paused', 'create it paused')
    .option('--note <text>', 'shown with the schedule (e.g. the change ticket)')
    .option('--reason <text>', "recorded as the runbook's reason")
    .action(
      (
        service: string,
        destination: string,
        f: { window: string; cron?: string; every?: string; timeZone: string; paused?: boolean; note?: string; reason?: string },
        cmd: Command,
      ) =>
        cli.run(cmd, async (ctx) => {
          // Bad input is a usage error naming the field, before anything is created.
          const req = parseMaintenanceSchedule({
            service,
            destination,
            window: f.window,
            timeZone: f.timeZone,
            taskQueue: ctx.settings.taskQueue,
            ...(f.cron !== undefined ? { cron: f.cron } : {}),
            ...(f.every !== undefined ? { every: f.every } : {}),
            ...(f.paused ? { paused: true } : {}),
            ...(f.note !== undefined ? { note: f.note } : {}),
            ...(f.reason !== undefined ? { reason: f.reason } : {}),
          });
          checkAgainstConfig(req, ctx.config());
          const client = await ctx.client();
          try {
            const handle = await createMaintenanceSchedule(client, req);
            ctx.emit(
              { scheduleId: handle.scheduleId, ...req },
              () =>
                `created ${handle.scheduleId}: drain ${destination} of ${service} for ${req.window}, ${req.cron ?? `every ${req.every}`} (${req.timeZone})${req.paused ? ', paused' : ''}`,
            );
          } catch (err) {
            if (err instanceof ScheduleExistsError) throw new CliError(err.message, EXIT.failed, 'exists', { scheduleId: err.scheduleId });
            throw err;
          }
        }),
    );

  maintenance
    .command('list')
    .description('maintenance schedules with their next and recent runs')
    .option('--service <name>', 'only this service')
    .action((f: { service?: string }, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        if (f.service !== undefined) ctx.service(f.service);
        const list = await listSchedules(await ctx.client(), f.service !== undefined ? { service: f.service } : {});
        ctx.emit(list, () =>
          list.length === 0
            ? 'no maintenance schedules'
            : table(
                ['SCHEDULE', 'WINDOW', 'WHEN', 'TIME ZONE', 'NEXT (LOCAL)', 'NEXT (UTC)', 'RUNS', 'NOTE'],
                list.map((s) => {
                  const next = s.nextActionTimes[0];
                  return [
                    s.scheduleId,
                    s.window,
                    s.when,
                    s.timeZone,
                    s.paused ? 'PAUSED' : next ? localTime(next, s.timeZone) : '-',
                    s.paused || !next ? '-' : fmtTime(next.toISOString()),
                    String(s.recentActions.length),
                    s.note ?? '',
                  ];
                }),
              ).join('\n'),
        );
      }),
    );

  for (const [name, action] of Object.entries(ACTIONS)) {
    maintenance
      .command(name)
      .description(action.about)
      .argument('<service>', 'service name from the config')
      .argument('<destination>', 'destination of the schedule')
      .action((service: string, destination: string, _f: unknown, cmd: Command) =>
        cli.run(cmd, async (ctx) => {
          ctx.service(service);
          try {
            await action.run(await ctx.client(), { service, destination });
          } catch (err) {
            if (err instanceof NoSuchScheduleError) throw new CliError(err.message, EXIT.failed, 'no-schedule', { scheduleId: err.scheduleId });
            throw err;
          }
          ctx.emit({ service, destination, action: name }, () => `maintenance schedule of ${destination} (${service}) ${action.done}`);
        }),
      );
  }
}

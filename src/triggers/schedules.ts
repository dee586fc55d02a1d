import {
  DAYS_OF_WEEK,
  MONTHS,
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  type CalendarSpec,
  type Client,
  type ScheduleHandle,
  type ScheduleOptions,
  type ScheduleOptionsStartWorkflowAction,
  type ScheduleSpec,
  type Workflow,
} from '@temporalio/client';
import { z } from 'zod';
import { cronSchema, destinationSchema, scheduleEverySchema, timeZoneSchema, type Config, type MaintenanceScheduleConfig } from '../domain/config';
import { maintenanceWindowSchema, type MaintenanceInput } from '../domain/runbook-input';
import { runbookKindKey, runbookSearchAttributes, serviceKey } from '../domain/search-attributes';
import { InvalidInputError, parseOrThrow } from '../domain/validation';
import { runbookWorkflowId } from '../domain/workflow-ids';

/**
 * Planned maintenance on Temporal Schedules: one schedule per service and destination, whose action
 * starts the `maintenance` runbook. Two maintenance runs never overlap on a service: the schedule
 * skips a time while its previous run is still going (overlap SKIP), and the runbook itself runs
 * under the service's lock id `runbook-<service>`, so it is skipped (outcome `skipped`) while any
 * other runbook holds the service.
 */

const SCHEDULE_PREFIX = 'maintenance:';
/** A server outage longer than this drops the missed run instead of draining at a surprising hour. */
const CATCHUP_WINDOW = '10m';

const id = destinationSchema.unwrap().shape.id;

/** Schedule id for a service's destination; ":" cannot occur in either name, so the pair is unambiguous. */
export function maintenanceScheduleId(service: string, destination: string): string {
  return `${SCHEDULE_PREFIX}${service}:${destination}`;
}

function calendarField<T extends number | string>(value: z.ZodType<T>) {
  const range = z.union(
    [value, z.strictObject({ start: value, end: value, step: z.number().int().min(1) }), z.strictObject({ start: value, end: value.optional() })],
    {
      error: 'expected a value, {start, end?} or {start, end, step}',
    },
  );
  return z.union([z.literal('*'), range, z.array(range).min(1)]).optional();
}
const int = (min: number, max: number) => z.number().int().min(min).max(max);

/** Temporal's CalendarSpec: unset fields default to 0 for second/minute/hour and to "every" for the rest. */
export const calendarSpecSchema = z.strictObject({
  second: calendarField(int(0, 59)),
  minute: calendarField(int(0, 59)),
  hour: calendarField(int(0, 23)),
  dayOfMonth: calendarField(int(1, 31)),
  month: calendarField(z.enum(MONTHS)),
  year: calendarField(int(1970, 2999)),
  dayOfWeek: calendarField(z.enum(DAYS_OF_WEEK)),
  comment: z.string().max(200).optional(),
});

export const maintenanceScheduleInputSchema = z
  .strictObject({
    service: id,
    destination: id,
    /** How long the destination stays drained each time. */
    window: maintenanceWindowSchema,
    /** When, as a cron expression (5–7 fields, or @daily / @every 1h) … */
    cron: cronSchema.optional(),
    /** … or as a Temporal calendar spec … */
    calendar: calendarSpecSchema.optional(),
    /** … or as a fixed interval ("6h"). */
    every: scheduleEverySchema.optional(),
    /** IANA time zone the cron / calendar times are read in. */
    timeZone: timeZoneSchema.default('UTC'),
    /** The worker's task queue. */
    taskQueue: z.string().min(1),
    paused: z.boolean().default(false),
    /** Shown with the schedule (e.g. the change ticket). */
    note: z.string().max(500).optional(),
    /** Recorded as the runbook's reason. */
    reason: z.string().max(500).optional(),
  })
  .refine((s) => [s.cron, s.calendar, s.every].filter((x) => x !== undefined).length === 1, {
    message: 'expected exactly one of "cron", "calendar" or "every"',
    path: ['cron'],
  });
export type MaintenanceScheduleInput = z.input<typeof maintenanceScheduleInputSchema>;
export type MaintenanceScheduleRequest = z.output<typeof maintenanceScheduleInputSchema>;

const scheduleRefSchema = z.strictObject({ service: id, destination: id, note: z.string().max(500).optional() });
export type ScheduleRef = z.input<typeof scheduleRefSchema>;

/** Identifies the schedules this module manages; `managedBy: 'config'` ones are removed by a sync when they leave the config. */
interface ScheduleMemo {
  kind: 'maintenance';
  service: string;
  destination: string;
  window: string;
  taskQueue: string;
  managedBy: 'api' | 'config';
}

export class ScheduleExistsError extends Error {
  constructor(readonly scheduleId: string) {
    super(`a maintenance schedule ${scheduleId} already exists; pause, delete or sync it instead of creating it again`);
    this.name = 'ScheduleExistsError';
  }
}

export class NoSuchScheduleError extends Error {
  constructor(readonly scheduleId: string) {
    super(`no maintenance schedule ${scheduleId}`);
    this.name = 'NoSuchScheduleError';
  }
}

/** Validates schedule input; throws InvalidInputError naming every bad field. */
export function parseMaintenanceSchedule(input: unknown): MaintenanceScheduleRequest {
  return parseOrThrow(maintenanceScheduleInputSchema, input, 'maintenance schedule');
}

/** Against a config: the service and destination must exist, or the runbook would fail at every run. */
export function checkAgainstConfig(req: { service: string; destination: string }, config: Config): void {
  const svc = config.services.find((s) => s.name === req.service);
  if (!svc)
    throw new InvalidInputError('maintenance schedule', [
      `service: expected a configured service (${config.services.map((s) => s.name).join(', ')}) (got ${JSON.stringify(req.service)})`,
    ]);
  if (!svc.destinations.some((d) => d.id === req.destination)) {
    throw new InvalidInputError('maintenance schedule', [
      `destination: expected a destination of service ${svc.name} (${svc.destinations.map((d) => d.id).join(', ')}) (got ${JSON.stringify(req.destination)})`,
    ]);
  }
}

/** What a schedule's runs depend on; equal fingerprints mean a sync has nothing to change. */
function fingerprint(req: MaintenanceScheduleRequest): string {
  const { paused: _p, note: _n, ...rest } = req;
  return stableJson(rest);
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function specOf(req: MaintenanceScheduleRequest): ScheduleSpec {
  const when: ScheduleSpec =
    req.cron !== undefined
      ? { cronExpressions: [req.cron] }
      : req.calendar !== undefined
        ? { calendars: [req.calendar as CalendarSpec] }
        : { intervals: [{ every: req.every as `${number}s` }] };
  return { ...when, timezone: req.timeZone };
}

function actionOf(req: MaintenanceScheduleRequest, scheduleId: string): ScheduleOptionsStartWorkflowAction<Workflow> {
  const input: MaintenanceInput = {
    service: req.service,
    destination: req.destination,
    window: req.window,
    trigger: 'schedule',
    actor: `schedule ${scheduleId}`,
    ...(req.reason ? { reason: req.reason } : {}),
  };
  return {
    type: 'startWorkflow',
    workflowType: 'maintenance',
    taskQueue: req.taskQueue,
    // The server appends the scheduled time to this id; the runbook then takes the lock id itself.
    workflowId: runbookWorkflowId(req.service),
    args: [input],
    typedSearchAttributes: runbookSearchAttributes(req.service, 'maintenance', 'schedule'),
    staticSummary: `scheduled maintenance of ${req.destination} (${req.service}) for ${req.window}`,
    memo: { maintenanceSchedule: fingerprint(req) },
  };
}

/** The ScheduleOptions for a validated request (pure: what create sends). */
export function maintenanceScheduleOptions(req: MaintenanceScheduleRequest, managedBy: ScheduleMemo['managedBy'] = 'api'): ScheduleOptions {
  const scheduleId = maintenanceScheduleId(req.service, req.destination);
  const memo: ScheduleMemo = {
    kind: 'maintenance',
    service: req.service,
    destination: req.destination,
    window: req.window,
    taskQueue: req.taskQueue,
    managedBy,
  };
  return {
    scheduleId,
    spec: specOf(req),
    action: actionOf(req, scheduleId),
    policies: { overlap: 'SKIP', catchupWindow: CATCHUP_WINDOW, pauseOnFailure: true },
    memo: memo as unknown as Record<string, unknown>,
    typedSearchAttributes: [
      { key: serviceKey, value: req.service },
      { key: runbookKindKey, value: 'maintenance' },
    ],
    state: { paused: req.paused, ...(req.note ? { note: req.note } : {}) },
  };
}

/**
 * Creates the maintenance schedule of a service's destination. Input is validated first (nothing is
 * created on a bad field); with `config`, the service and destination must exist in it.
 */
export async function createMaintenanceSchedule(
  client: Client,
  input: MaintenanceScheduleInput,
  opts: { config?: Config } = {},
): Promise<{ scheduleId: string; handle: ScheduleHandle }> {
  const req = parseMaintenanceSchedule(input);
  if (opts.config) checkAgainstConfig(req, opts.config);
  const options = maintenanceScheduleOptions(req);
  try {
    const handle = await client.schedule.create(options);
    return { scheduleId: options.scheduleId, handle };
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) throw new ScheduleExistsError(options.scheduleId);
    throw err;
  }
}

export interface MaintenanceScheduleInfo {
  scheduleId: string;
  service: string;
  destination: string;
  window: string;
  /** When it runs: `cron "0 3 * * SUN"` or `every 6h`, as the server holds it. */
  when: string;
  /** The IANA zone its times are read in. */
  timeZone: string;
  paused: boolean;
  note?: string;
  nextActionTimes: Date[];
  recentActions: { scheduledAt: Date; takenAt: Date; workflowId: string; runId: string }[];
}

const listFilterSchema = z.strictObject({ service: id.optional() });

/** Maintenance schedules (optionally of one service). Listing is eventually consistent: a schedule appears shortly after it is created. */
export async function listSchedules(client: Client, filter: z.input<typeof listFilterSchema> = {}): Promise<MaintenanceScheduleInfo[]> {
  const f = parseOrThrow(listFilterSchema, filter, 'schedule filter');
  const out: MaintenanceScheduleInfo[] = [];
  for await (const s of client.schedule.list()) {
    const memo = s.memo as Partial<ScheduleMemo> | undefined;
    if (!s.scheduleId.startsWith(SCHEDULE_PREFIX) || memo?.kind !== 'maintenance') continue;
    if (f.service !== undefined && memo.service !== f.service) continue;
    out.push({
      scheduleId: s.scheduleId,
      service: memo.service ?? '',
      destination: memo.destination ?? '',
      window: memo.window ?? '',
      when: describeSpec(s.spec),
      timeZone: s.spec?.timezone || 'UTC',
      paused: s.state.paused,
      ...(s.state.note ? { note: s.state.note } : {}),
      nextActionTimes: s.info.nextActionTimes,
      recentActions: s.info.recentActions.map((a) => ({
        scheduledAt: a.scheduledAt,
        takenAt: a.takenAt,
        workflowId: a.action.workflow.workflowId,
        runId: a.action.workflow.firstExecutionRunId,
      })),
    });
  }
  return out.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

type CalendarRange = { start: number | string; end?: number | string; step?: number };
const CAL_FIELDS: [key: string, min: number | string, max: number | string][] = [
  ['minute', 0, 59],
  ['hour', 0, 23],
  ['dayOfMonth', 1, 31],
  ['month', 'JANUARY', 'DECEMBER'],
  ['dayOfWeek', 'SUNDAY', 'SATURDAY'],
];
const short = (v: number | string) => (typeof v === 'string' ? v.slice(0, 3) : String(v));

/** One calendar field in cron notation ("*", "3", "1-5", "MON,FRI", "*\/15"). */
function cronField(ranges: readonly CalendarRange[] | undefined, min: number | string, max: number | string): string {
  if (!ranges || ranges.length === 0) return '*';
  return ranges
    .map((r) => {
      const end = r.end ?? r.start;
      const step = r.step && r.step > 1 ? `/${r.step}` : '';
      if (r.start === min && end === max) return `*${step}`;
      return `${short(r.start)}${end !== r.start ? `-${short(end)}` : ''}${step}`;
    })
    .join(',');
}

/** A schedule's times, read back from what the server holds (it keeps a cron as a calendar). */
export function describeSpec(spec: { calendars?: readonly object[]; intervals?: readonly { every: number; offset?: number }[] } | undefined): string {
  const parts: string[] = [];
  for (const cal of spec?.calendars ?? []) {
    const c = cal as Record<string, unknown>;
    const seconds = cronField(c.second as CalendarRange[] | undefined, 0, 59);
    const fields = CAL_FIELDS.map(([k, min, max]) => cronField(c[k] as CalendarRange[] | undefined, min, max));
    parts.push(`cron "${[...(seconds !== '0' ? [seconds] : []), ...fields].join(' ')}"`);
  }
  for (const i of spec?.intervals ?? []) parts.push(`every ${msToText(i.every)}`);
  return parts.join(' + ') || 'no times';
}

function msToText(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

async function onSchedule<T>(
  client: Client,
  ref: ScheduleRef,
  what: string,
  use: (h: ScheduleHandle, r: z.output<typeof scheduleRefSchema>) => Promise<T>,
): Promise<T> {
  const r = parseOrThrow(scheduleRefSchema, ref, what);
  const scheduleId = maintenanceScheduleId(r.service, r.destination);
  try {
    return await use(client.schedule.getHandle(scheduleId), r);
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new NoSuchScheduleError(scheduleId);
    throw err;
  }
}

/** Stops the schedule taking actions (a running maintenance goes on); `note` says why. */
export function pauseSchedule(client: Client, ref: ScheduleRef): Promise<void> {
  return onSchedule(client, ref, 'pause schedule', (h, r) => h.pause(r.note ?? 'paused by an operator'));
}

export function unpauseSchedule(client: Client, ref: ScheduleRef): Promise<void> {
  return onSchedule(client, ref, 'unpause schedule', (h, r) => h.unpause(r.note ?? 'unpaused by an operator'));
}

/** Runs the maintenance now; skipped (overlap SKIP) while the schedule's previous run is still going. */
export function triggerNow(client: Client, ref: ScheduleRef): Promise<void> {
  // The SDK's default for a manual trigger is ALLOW_ALL; maintenance must never double up.
  return onSchedule(client, ref, 'trigger schedule', (h) => h.trigger('SKIP'));
}

/** Deletes the schedule; a maintenance it already started runs to its end. */
export function deleteSchedule(client: Client, ref: ScheduleRef): Promise<void> {
  return onSchedule(client, ref, 'delete schedule', (h) => h.delete());
}

export interface SyncReport {
  created: string[];
  updated: string[];
  unchanged: string[];
  /** Config-managed schedules of this task queue no longer in the config. */
  deleted: string[];
}

function fromConfig(entry: MaintenanceScheduleConfig, taskQueue: string): MaintenanceScheduleRequest {
  return parseMaintenanceSchedule({
    service: entry.service,
    destination: entry.destination,
    window: entry.window,
    ...(entry.cron !== undefined ? { cron: entry.cron } : {}),
    ...(entry.every !== undefined ? { every: entry.every } : {}),
    timeZone: entry.time_zone,
    taskQueue,
    paused: entry.paused ?? false,
    ...(entry.note ? { note: entry.note } : {}),
    ...(entry.reason ? { reason: entry.reason } : {}),
  });
}

/**
 * Makes the schedules match `config.maintenance`: creates missing ones, updates changed ones
 * (keeping a pause set by an operator unless the config says `paused`), and deletes config-managed
 * schedules of this task queue that left the config. Safe to run at every worker start.
 */
export async function syncSchedulesFromConfig(client: Client, config: Config, taskQueue: string): Promise<SyncReport> {
  const report: SyncReport = { created: [], updated: [], unchanged: [], deleted: [] };
  const entries = config.maintenance ?? [];
  const wanted = new Set<string>();
  for (const entry of entries) {
    const configured = entry.paused;
    const req = fromConfig(entry, taskQueue);
    const options = maintenanceScheduleOptions(req, 'config');
    wanted.add(options.scheduleId);
    const handle = client.schedule.getHandle(options.scheduleId);
    const existing = await handle.describe().catch((err: unknown) => {
      if (err instanceof ScheduleNotFoundError) return undefined;
      throw err;
    });
    if (!existing) {
      try {
        await client.schedule.create(options);
        report.created.push(options.scheduleId);
        continue;
      } catch (err) {
        if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      }
    }
    const current = existing ?? (await handle.describe());
    const same = (current.action.memo as { maintenanceSchedule?: string } | undefined)?.maintenanceSchedule === fingerprint(req);
    if (!same) {
      await handle.update((prev) => ({
        spec: options.spec,
        action: options.action,
        policies: options.policies ?? {},
        typedSearchAttributes: options.typedSearchAttributes ?? [],
        state: {
          paused: configured ?? prev.state.paused,
          ...(prev.state.note ? { note: prev.state.note } : {}),
          ...(prev.state.remainingActions !== undefined ? { remainingActions: prev.state.remainingActions } : {}),
        },
      }));
      report.updated.push(options.scheduleId);
    } else if (configured !== undefined && configured !== current.state.paused) {
      await (configured ? handle.pause('paused by config') : handle.unpause('unpaused by config'));
      report.updated.push(options.scheduleId);
    } else {
      report.unchanged.push(options.scheduleId);
    }
  }
  for await (const s of client.schedule.list()) {
    const memo = s.memo as Partial<ScheduleMemo> | undefined;
    if (memo?.kind !== 'maintenance' || memo.managedBy !== 'config' || memo.taskQueue !== taskQueue || wanted.has(s.scheduleId)) continue;
    await client.schedule
      .getHandle(s.scheduleId)
      .delete()
      .catch((err: unknown) => {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      });
    report.deleted.push(s.scheduleId);
  }
  return report;
}

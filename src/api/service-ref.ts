import type { ServiceConfig } from '../domain/config';

/**
 * How a runbook names its service to an activity: the service and the live config version its
 * snapshot came from. The activity resolves it to the config of exactly that version, so the
 * history holds a name and a number instead of hosts, ports and router settings, and every bound
 * the activity applies is the one the runbook started with, whatever was applied since.
 */
export interface ServiceRef {
  service: string;
  configVersion: number;
}

/**
 * What step activities accept for the service: a reference, or the whole service config as runs
 * recorded before references (and runs on workers without a supervisor, whose config has no version).
 */
export type ServiceArg = ServiceRef | ServiceConfig;

export function isServiceRef(arg: ServiceArg): arg is ServiceRef {
  return typeof (arg as Partial<ServiceRef>).configVersion === 'number' && typeof (arg as Partial<ServiceRef>).service === 'string';
}

/** The service's name, whichever shape it came in. */
export function serviceNameOf(arg: ServiceArg): string {
  return isServiceRef(arg) ? arg.service : arg.name;
}

/**
 * What a runbook passes for its snapshot: a reference when the snapshot has a version (a worker that
 * follows the supervisor), the whole config otherwise. Decided only from the recorded snapshot, so
 * a replay makes the same choice.
 */
export function serviceArgOf(snapshot: { service: ServiceConfig; version?: number | undefined }): ServiceArg {
  return snapshot.version !== undefined ? { service: snapshot.service.name, configVersion: snapshot.version } : snapshot.service;
}

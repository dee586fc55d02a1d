import { z } from 'zod';
import { configSchema, policySchema, probeSchema, replicationSchema, routerSchema, type ServicePolicySection } from './config';
import { formatPath, InvalidInputError } from './validation';

/**
 * Config changes made by a program (the MCP tools `failover.define` / `failover.configure`, the
 * TypeScript API): each builds a new config document from the live one, keeping what it does not
 * touch exactly as written, and checks the whole result with the config schema. Problems are
 * named by the field of the request that caused them, so a caller knows what to fix.
 */

const name = z.string().min(1, 'expected a non-empty name');
const kinds = (u: { options: readonly z.ZodType[] }) =>
  u.options.map((o) => ((o instanceof z.ZodLazy ? o.unwrap() : o) as unknown as { shape: { type: { value: string } } }).shape.type.value) as [
    string,
    ...string[],
  ];

/** A driver block (probe, replication, router), checked in full against the config schema when the document is. */
const driver = (what: string, types: [string, ...string[]]) =>
  z.looseObject({ type: z.enum(types) }).describe(`${what}: {"type": one of ${types.join(', ')}, …the keys that driver takes, as in the YAML config}`);

export const destinationInputSchema = z.strictObject({
  id: name.describe('destination id (lowercase letters, digits, ".", "_", "-")'),
  zone: name,
  region: name,
  tier: z.number().int().min(0).optional().describe('0 = preferred; higher = further away'),
  weight: z.number().int().min(0).max(256).optional().describe('weight when active; capacity for active-active'),
  probe: driver('how to probe it', kinds(probeSchema.unwrap())),
  replication: driver('how it replicates', kinds(replicationSchema.unwrap())).optional(),
  router_server: name.optional().describe('its name inside the router, when it differs from the id'),
});
export type DestinationInput = z.input<typeof destinationInputSchema>;

/** Request fields for the policy sections a service may set, and the config section each one is. */
export const POLICY_FIELDS = {
  detection: 'failover_detection',
  execution: 'failover_execution',
  recovery: 'recovery_management',
  redundancy: 'redundancy_management',
  performance: 'performance',
  quality: 'quality',
} as const satisfies Record<string, ServicePolicySection>;
type PolicyField = keyof typeof POLICY_FIELDS;

/** The keys of a policy section, each checked (value and all) against the config schema with the whole document. */
function sectionInput(section: ServicePolicySection, except: string[] = []) {
  const wrapped = policySchema.unwrap().shape[section].unwrap() as z.ZodType;
  const inner = (wrapped instanceof z.ZodLazy ? wrapped.unwrap() : wrapped) as unknown as { shape: Record<string, unknown> };
  const keys = Object.keys(inner.shape).filter((k) => !except.includes(k));
  return z
    .strictObject(Object.fromEntries(keys.map((k) => [k, z.unknown().optional()])))
    .describe(`failover_manager.${section} keys for this service only (${keys.join(', ')}); values as in the YAML config`);
}

const changeMeta = {
  reason: z.string().min(1, 'expected why (recorded with the config version)').max(500),
  /** Who asks; recorded with the identity of the caller. */
  actor: z.string().min(1).max(100).optional(),
  /** Only compute the diff against the live version; change nothing. */
  dry_run: z.boolean().optional(),
  /** Refuse when the live config is no longer this version (someone applied a change in between). */
  expect_version: z.number().int().min(1).optional(),
};

export const defineInputSchema = z.strictObject({
  service: name.describe('service name; created when the live config has none of that name'),
  strategy: z
    .enum(['active-passive', 'active-active'])
    .describe('active-passive: one primary, standbys at weight 0; active-active: weights spread over several'),
  description: z.string().max(500).optional(),
  router: driver('the router that holds its routing (required for a new service)', kinds(routerSchema.unwrap())).optional(),
  entrypoint: driver('where producers connect, used to validate switches', kinds(probeSchema.unwrap())).optional(),
  validation: z
    .array(driver('an extra check every switch step must pass', kinds(probeSchema.unwrap())))
    .max(20)
    .optional(),
  destinations: z
    .array(destinationInputSchema)
    .min(1)
    .max(100)
    .optional()
    .describe('all destinations with their zone, region and tier (replaces the list; required for a new service)'),
  detection: sectionInput('failover_detection').optional(),
  execution: sectionInput('failover_execution', ['failover_strategy']).optional(),
  recovery: sectionInput('recovery_management').optional(),
  redundancy: sectionInput('redundancy_management').optional(),
  performance: sectionInput('performance').optional(),
  quality: sectionInput('quality').optional(),
  ...changeMeta,
});
export type DefineInput = z.input<typeof defineInputSchema>;

export const backupChangeSchema = destinationInputSchema.partial().required({ id: true });

export const configureInputSchema = z.strictObject({
  service: name,
  add: z.array(destinationInputSchema).max(100).optional().describe('new backups (destinations) of the service'),
  remove: z.array(name).max(100).optional().describe('ids of destinations to take out of the config (never the one carrying traffic)'),
  change: z
    .array(backupChangeSchema)
    .max(100)
    .optional()
    .describe(
      '{id, and the fields to change}: probe, replication, weight, zone, region, tier, router_server (a given probe or replication replaces the old one)',
    ),
  /** Remove a destination even when its routing cannot be read (it is still refused when it is seen to carry traffic). */
  force: z.boolean().optional(),
  ...changeMeta,
});
export type ConfigureInput = z.input<typeof configureInputSchema>;

type Doc = Record<string, unknown>;
type RawService = Record<string, unknown> & { name?: unknown; destinations?: unknown };

function isObject(v: unknown): v is Doc {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Drops undefined values, so a document holds only what was written. */
function clean<T extends Doc>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function servicesOf(doc: unknown): { root: Doc; services: RawService[] } {
  const root: Doc = isObject(doc) ? structuredClone(doc) : {};
  const services = Array.isArray(root.services) ? (root.services as RawService[]) : [];
  root.services = services;
  return { root, services };
}

function destinationsOf(svc: RawService): Doc[] {
  return Array.isArray(svc.destinations) ? (svc.destinations as Doc[]) : [];
}

/**
 * Checks a whole new document; a problem in the edited service is named by the request field
 * `fieldOf` maps its path to, any other (a maintenance window naming a removed destination) by its config path.
 */
export function checkDocument(doc: unknown, service: string, fieldOf: (path: readonly PropertyKey[]) => string): void {
  const r = configSchema.safeParse(doc, { reportInput: true });
  if (r.success) return;
  const services = servicesOf(doc).services;
  const index = services.findIndex((s) => s.name === service);
  const problems = r.error.issues.map((issue) => {
    const [top, i, ...rest] = issue.path;
    const field = top === 'services' && i === index ? fieldOf(rest) : `config ${formatPath('', issue.path)}`;
    const got = 'input' in issue && issue.input !== undefined && issue.code !== 'unrecognized_keys' ? ` (got ${preview(issue.input)})` : '';
    return `${field}: ${issue.message}${got}`;
  });
  throw new InvalidInputError('config change', problems);
}

function policyFieldOf(path: readonly PropertyKey[]): string | undefined {
  const [section, ...rest] = path;
  if (section === 'failover_execution' && rest[0] === 'failover_strategy') return 'strategy';
  const field = (Object.keys(POLICY_FIELDS) as PolicyField[]).find((f) => POLICY_FIELDS[f] === section);
  return field ? formatPath(field, rest) : undefined;
}

/**
 * `failover.define`: creates a service, or replaces its strategy (active-passive / active-active
 * and its own detection, execution, recovery, redundancy policy: sections left out fall back to
 * the fleet's); destinations, router, entrypoint and validation are replaced when given and kept otherwise.
 */
export function defineService(doc: unknown, input: z.output<typeof defineInputSchema>, liveVersion?: number): { doc: unknown; created: boolean } {
  const { root, services } = servicesOf(doc);
  const index = services.findIndex((s) => s.name === input.service);
  const old = index >= 0 ? services[index] : undefined;
  const where = liveVersion !== undefined ? `config version ${liveVersion}` : 'the config';
  const problems: string[] = [];
  if (!old && input.router === undefined) problems.push(`router: required to create service ${JSON.stringify(input.service)}, which ${where} does not have`);
  if (!old && input.destinations === undefined)
    problems.push(`destinations: required to create service ${JSON.stringify(input.service)}, which ${where} does not have`);
  if (problems.length > 0) throw new InvalidInputError('failover.define request', problems);

  const ownPolicy: Doc = {};
  for (const field of Object.keys(POLICY_FIELDS) as PolicyField[]) {
    const section = input[field];
    if (section !== undefined) ownPolicy[POLICY_FIELDS[field]] = clean(section as Doc);
  }
  ownPolicy.failover_execution = { ...((ownPolicy.failover_execution as Doc | undefined) ?? {}), failover_strategy: input.strategy };

  const service: RawService = clean({
    ...(old ?? {}),
    name: input.service,
    description: input.description ?? old?.description,
    router: input.router ?? old?.router,
    entrypoint: input.entrypoint ?? old?.entrypoint,
    validation: input.validation ?? old?.validation,
    destinations: input.destinations ? input.destinations.map((d) => clean(d as Doc)) : old?.destinations,
    policy: ownPolicy,
  });
  if (old) services[index] = service;
  else services.push(service);

  checkDocument(root, input.service, (path) => {
    if (path[0] === 'policy') return policyFieldOf(path.slice(1)) ?? formatPath('policy', path.slice(1));
    return formatPath('', path);
  });
  return { doc: root, created: !old };
}

/** `failover.configure`: adds, removes and changes backups (destinations) of a service. */
export function configureBackups(
  doc: unknown,
  input: z.output<typeof configureInputSchema>,
  liveVersion?: number,
): { doc: unknown; added: string[]; removed: string[]; changed: string[] } {
  const { root, services } = servicesOf(doc);
  const index = services.findIndex((s) => s.name === input.service);
  const known = services.map((s) => String(s.name));
  if (index < 0) {
    throw new InvalidInputError('failover.configure request', [
      `service: no service ${JSON.stringify(input.service)} in ${liveVersion !== undefined ? `config version ${liveVersion}` : 'the config'} (has ${known.join(', ')}); create it with failover.define`,
    ]);
  }
  const old = services[index]!;
  const dests = destinationsOf(old);
  const ids = dests.map((d) => String(d.id));
  const add = input.add ?? [];
  const remove = input.remove ?? [];
  const change = input.change ?? [];
  const problems: string[] = [];
  if (add.length + remove.length + change.length === 0) problems.push('add: expected at least one of "add", "remove" or "change"');
  const has = `(has ${ids.join(', ')})`;
  const seen = new Map<string, string>();
  const claim = (id: string, field: string) => {
    const first = seen.get(id);
    if (first) problems.push(`${field}: destination ${JSON.stringify(id)} is already in ${first}; one operation per destination`);
    else seen.set(id, field);
  };
  add.forEach((d, i) => {
    if (ids.includes(d.id)) problems.push(`add[${i}].id: destination ${JSON.stringify(d.id)} is already in service ${input.service}; change it with "change"`);
    claim(d.id, `add[${i}]`);
  });
  remove.forEach((id, i) => {
    if (!ids.includes(id)) problems.push(`remove[${i}]: no destination ${JSON.stringify(id)} in service ${input.service} ${has}`);
    claim(id, `remove[${i}]`);
  });
  change.forEach((c, i) => {
    if (!ids.includes(c.id)) problems.push(`change[${i}].id: no destination ${JSON.stringify(c.id)} in service ${input.service} ${has}`);
    if (Object.keys(clean(c as Doc)).length === 1)
      problems.push(`change[${i}]: expected a field to change besides "id" (probe, replication, weight, zone, region, tier, router_server)`);
    claim(c.id, `change[${i}]`);
  });
  if (problems.length > 0) throw new InvalidInputError('failover.configure request', problems);

  const changes = new Map(change.map((c) => [c.id, clean(c as Doc)] as const));
  const next = [
    ...dests.filter((d) => !remove.includes(String(d.id))).map((d) => (changes.has(String(d.id)) ? { ...d, ...changes.get(String(d.id)) } : d)),
    ...add.map((d) => clean(d as Doc)),
  ];
  services[index] = { ...old, destinations: next };
  checkDocument(root, input.service, (path) => {
    if (path[0] !== 'destinations') return formatPath('', path);
    if (path.length === 1) return remove.length > 0 ? 'remove' : 'destinations';
    const id = String(next[Number(path[1])]?.id);
    const a = add.findIndex((d) => d.id === id);
    const c = change.findIndex((d) => d.id === id);
    const field = a >= 0 ? `add[${a}]` : c >= 0 ? `change[${c}]` : `destinations[${id}]`;
    return formatPath(field, path.slice(2));
  });
  return { doc: root, added: add.map((d) => d.id), removed: remove, changed: change.map((c) => c.id) };
}

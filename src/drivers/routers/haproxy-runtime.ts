import net from 'node:net';

/** Where HAProxy's runtime API listens: `stats socket … level admin` as a unix path or "host:port". */
export type RuntimeApiAddress = { socket: string } | { address: string };

/** Sends one command line (commands may be joined with ";") and returns HAProxy's whole answer. */
export function runtimeCommand(api: RuntimeApiAddress, command: string, timeoutMs = 5000): Promise<string> {
  // One line only: a line break would end this command and start one nobody built.
  if (/[\r\n\0]/.test(command)) return Promise.reject(new Error('HAProxy runtime command must be a single line'));
  return new Promise((resolve, reject) => {
    const socket =
      'socket' in api
        ? net.connect({ path: api.socket })
        : net.connect({ host: api.address.slice(0, api.address.lastIndexOf(':')), port: Number(api.address.split(':').pop()) });
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`HAProxy runtime API did not answer "${command}" within ${timeoutMs}ms`)));
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

export interface ServerState {
  name: string;
  /** 0 stopped, 1 starting, 2 running, 3 stopping (HAProxy srv_op_state). */
  opState: number;
  adminState: number;
  userWeight: number;
  maint: boolean;
  drain: boolean;
}

// HAProxy's SRV_ADMF_MAINT: forced, inherited, DNS and health-check maint. 0x04 only records "disabled in the
// config" and stays set after `state ready`.
const MAINT_FLAGS = 0x01 | 0x02 | 0x20 | 0x40;
const DRAIN_FLAGS = 0x08 | 0x10;

/** Parses `show servers state <backend>`. */
export function parseServersState(text: string): ServerState[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = lines.find((l) => l.startsWith('# be_id'));
  if (!header) throw new Error(`unexpected answer to "show servers state": ${text.trim().slice(0, 200)}`);
  const cols = header.slice(2).split(' ');
  const col = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0) throw new Error(`"show servers state" lacks column ${name}`);
    return i;
  };
  const [iName, iOp, iAdmin, iWeight] = ['srv_name', 'srv_op_state', 'srv_admin_state', 'srv_uweight'].map(col) as [number, number, number, number];
  return (
    lines
      .map((l) => l.split(' '))
      // The first line is the format version ("1"); server rows have a field per header column.
      .filter((f) => f.length >= cols.length && /^\d+$/.test(f[0]!))
      .map((f) => {
        const adminState = Number(f[iAdmin]);
        return {
          name: f[iName]!,
          opState: Number(f[iOp]),
          adminState,
          userWeight: Number(f[iWeight]),
          maint: (adminState & MAINT_FLAGS) !== 0,
          drain: (adminState & DRAIN_FLAGS) !== 0,
        };
      })
  );
}

/** Runtime API commands answer nothing on success; any text is HAProxy's complaint. */
export async function runtimeSet(api: RuntimeApiAddress, command: string): Promise<void> {
  const answer = (await runtimeCommand(api, command)).trim();
  if (answer !== '') throw new Error(`HAProxy refused "${command}": ${answer}`);
}

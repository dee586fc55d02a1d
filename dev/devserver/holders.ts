import fs from 'node:fs';

/**
 * Who holds a port or a file, read from /proc (Linux): for messages that name the holder instead
 * of "address in use". Processes of other users are invisible without privileges; then the answer
 * is empty and callers say so.
 */

export interface Holder {
  pid: number;
  /** Its command line, shortened. */
  command: string;
}

function commandOf(pid: number, max = 120): string {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return cmd.length > max ? `${cmd.slice(0, max - 3)}...` : cmd;
  } catch {
    return '?';
  }
}

/** Socket inodes listening on a local TCP port (IPv4 and IPv6). */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A = LISTEN
      const local = f[1]!;
      if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) inodes.add(f[9]!);
    }
  }
  return inodes;
}

/** Processes whose open file descriptors match `wanted` (socket:[inode] or a path). */
function processesWith(wanted: (link: string) => boolean): Holder[] {
  const out: Holder[] = [];
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return out;
  }
  for (const p of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = fs.readlinkSync(`/proc/${p}/fd/${fd}`);
      } catch {
        continue;
      }
      if (wanted(link)) {
        out.push({ pid: Number(p), command: commandOf(Number(p)) });
        break;
      }
    }
  }
  return out;
}

/** Processes listening on 127.0.0.1/0.0.0.0/:: `port`. */
export function portHolders(port: number): Holder[] {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return [];
  return processesWith((link) => {
    const m = /^socket:\[(\d+)\]$/.exec(link);
    return m !== null && inodes.has(m[1]!);
  });
}

/** Processes with `file` open. */
export function fileHolders(file: string): Holder[] {
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch {
    return [];
  }
  return processesWith((link) => link === real);
}

function parentOf(pid: number): number | undefined {
  try {
    // The command may hold spaces and parentheses: the fields after the last ")" are fixed.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) && ppid > 1 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/** "pid N (command)", with the parent when it is a node process (e.g. the npm start that started a dev server). */
export function describeHolders(holders: readonly Holder[]): string {
  return holders
    .map((h) => {
      const ppid = parentOf(h.pid);
      const parent = ppid !== undefined ? commandOf(ppid, 4096) : '';
      const by = /dev\/demo\.ts/.test(parent)
        ? 'npm start'
        : /src\/worker\.ts|dist\/worker\.js/.test(parent)
          ? 'a worker'
          : /\bnode\b/.test(parent)
            ? 'node'
            : '';
      return `pid ${h.pid} (${h.command})${ppid !== undefined && by ? `, started by ${by} (pid ${ppid})` : ''}`;
    })
    .join(', ');
}

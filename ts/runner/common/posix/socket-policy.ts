/**
 * Which addresses a sandboxed program may listen on and connect to. A
 * program started with a policy gets no sockets unless the embedder gives
 * an allow-list; a trusted program (no policy) reaches what the machine
 * lets Node reach.
 * @module
 */

/**
 * Addresses as `HOST:PORT`: HOST an IPv4 address, an IPv6 address in
 * brackets, a host name, or `*`; PORT a number or `*`. `127.0.0.1:3333`,
 * `[::1]:*`, `*:4444`. Listening on all interfaces takes `0.0.0.0:PORT`
 * (or `[::]:PORT`) in the list, and a port the system picks takes `:*`.
 */
export interface SocketAllowList {
  /** Where the program may listen (bind, then listen). */
  listen?: string[];
  /** Where the program may connect. */
  connect?: string[];
}

interface Pattern { host: string; port: number | '*' }

function parsePattern(text: string, list: string): Pattern {
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5}|\*)$/.exec(text.trim());
  const port = m && (m[2] === '*' ? '*' : Number(m[2]));
  if (!m || (port !== '*' && (port as number) > 65535)) {
    throw new Error(`sockets.${list}: '${text}' is not HOST:PORT (like 127.0.0.1:3333, [::1]:*, *:4444)`);
  }
  return { host: normalHost(m[1]), port: port as number | '*' };
}

function normalHost(host: string): string {
  return host.replace(/^\[|\]$/g, '').toLowerCase();
}

/** The allow-list, checked. Throws a clear error for a malformed entry. */
export class SocketPolicy {
  private readonly listens: Pattern[];
  private readonly connects: Pattern[];

  /** @param allow undefined: everything is allowed (a trusted program) */
  constructor(private readonly allow: SocketAllowList | undefined) {
    this.listens = (allow?.listen ?? []).map((p) => parsePattern(p, 'listen'));
    this.connects = (allow?.connect ?? []).map((p) => parsePattern(p, 'connect'));
  }

  /** May the program have sockets at all? */
  any(): boolean {
    return !this.allow || this.listens.length > 0 || this.connects.length > 0;
  }

  mayListen(host: string, port: number): boolean {
    return !this.allow || matches(this.listens, host, port);
  }

  mayConnect(host: string, port: number): boolean {
    return !this.allow || matches(this.connects, host, port);
  }
}

function matches(list: Pattern[], host: string, port: number): boolean {
  const h = normalHost(host);
  // a port of 0 (the system picks one) is only allowed by '*'
  return list.some((p) => (p.host === '*' || p.host === h) && (p.port === '*' || p.port === port));
}

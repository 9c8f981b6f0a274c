/**
 * Listening on a configured address, with the one-line reason a person can
 * act on when it fails (both HTTP servers: /metrics and the console). The
 * message names the setting (`metrics.port`, `console.port`) and the address.
 */
import type { Server } from 'node:http';

function problems(section: string, unsetHint: string): Record<string, string> {
  return {
    EADDRINUSE: `already in use by another program; choose another ${section}.port${unsetHint}`,
    EADDRNOTAVAIL: `not an address of this machine; check ${section}.host`,
    EACCES: 'not allowed (ports below 1024 need privileges); choose a port above 1023',
    ENOTFOUND: `host name not found; check ${section}.host`,
  };
}

/**
 * Listens and returns the port (useful with port 0). A failure with a known
 * cause becomes `refused(message)` (a UserError of the caller's); any other is
 * rethrown as it is. `optional`: the setting may be left unset instead.
 */
export async function listenExplained(server: Server, port: number, host: string, section: string, refused: (message: string) => Error, optional = false): Promise<number> {
  try {
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    const problem = problems(section, optional ? ' or leave it unset' : '')[code];
    if (!problem) throw error;
    throw refused(`${section}.port ${port}: cannot listen on ${host}:${port}: ${problem} (${code})`);
  }
  const address = server.address();
  return typeof address === 'object' && address ? address.port : port;
}

// Test PKI made with the openssl command: a CA, a server certificate for
// 127.0.0.1/localhost, and client certificates whose CN is the device id.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  ca: string;
  server: { cert: string; key: string };
  client(cn: string): { cert: string; key: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makePki(dir: string): TestPki {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=splitoculo test CA', '-keyout', 'ca.key', '-out', 'ca.crt'], dir);
  const issue = (name: string, cn: string, extensions: string) => {
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
    writeFileSync(join(dir, `${name}.ext`), extensions);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
    // mosquitto reads keys after dropping to its own user.
    chmodSync(join(dir, `${name}.key`), 0o644);
    return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  };
  const server = issue('server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    server,
    client: (cn: string) => issue(`client-${cn}`, cn, 'extendedKeyUsage=clientAuth\n'),
  };
}

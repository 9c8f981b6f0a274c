/**
 * Runs a long-lived service until SIGTERM or SIGINT, then stops it and exits
 * 0 (1 if stopping fails). A failed start logs its cause first, then stops
 * what did start and rethrows, so the command line reports it.
 */
import type { Logger } from 'pino';

export interface Service {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function runService(service: Service, log: Logger, stoppingMessage = 'stopping'): Promise<never> {
  let signalled = false;
  const stop = (signal: string) => {
    if (signalled) return;
    signalled = true;
    log.info({ signal }, stoppingMessage);
    service.stop().then(
      () => process.exit(0),
      (error) => {
        log.error({ err: (error as Error).message }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await service.start();
  } catch (error) {
    // The cause first: stopping what did start logs more, and a reader looks at the first error.
    log.error({ err: (error as Error).message ?? String(error) }, 'start failed');
    await service.stop().catch(() => undefined);
    throw error;
  }
  return new Promise<never>(() => undefined); // runs until a signal
}

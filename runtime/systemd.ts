/**
 * systemd readiness and watchdog through `systemd-notify` (no native code;
 * the unit needs NotifyAccess=all). Silently off when NOTIFY_SOCKET is unset.
 */
import { execFile } from 'node:child_process';

export class SystemdNotifier {
  readonly enabled = process.env.NOTIFY_SOCKET !== undefined;
  #watchdog: NodeJS.Timeout | null = null;

  #notify(...args: string[]): void {
    if (!this.enabled) return;
    execFile('systemd-notify', args, () => undefined);
  }

  ready(status: string): void {
    this.#notify('--ready', `--status=${status}`);
  }

  status(status: string): void {
    this.#notify(`--status=${status}`);
  }

  stopping(): void {
    this.#notify('STOPPING=1');
  }

  /** Pings at half the watchdog period, but only while `healthy()` says so. */
  startWatchdog(healthy: () => boolean): void {
    const usec = Number(process.env.WATCHDOG_USEC);
    if (!this.enabled || !Number.isFinite(usec) || usec <= 0) return;
    this.#watchdog = setInterval(
      () => {
        if (healthy()) this.#notify('WATCHDOG=1');
      },
      Math.max(500, usec / 2000),
    );
    this.#watchdog.unref();
  }

  stop(): void {
    if (this.#watchdog) clearInterval(this.#watchdog);
  }
}

import type { Readiness, ReadinessCheck } from '@parley/contracts';

/** A dependency check: resolves ok, or not ok with a reason. Must not hang (it is time-boxed). */
export type HealthCheck = () =>
  Promise<{ ok: boolean; reason?: string }> | { ok: boolean; reason?: string };

/**
 * Readiness of a service = every registered check passes. Checks are time-boxed so a hanging
 * dependency reports "timed out" instead of hanging `/ready`.
 */
export class HealthRegistry {
  private readonly checks = new Map<string, HealthCheck>();

  constructor(private readonly timeoutMs = 1000) {}

  /** Registers (or replaces) a named check. */
  register(name: string, check: HealthCheck): void {
    this.checks.set(name, check);
  }

  /** Runs every check. */
  async readiness(): Promise<Readiness> {
    const results: ReadinessCheck[] = await Promise.all(
      [...this.checks.entries()].map(async ([name, check]) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          const timeout = new Promise<{ ok: boolean; reason: string }>((resolve) => {
            timer = setTimeout(
              () => resolve({ ok: false, reason: `check timed out after ${this.timeoutMs} ms` }),
              this.timeoutMs,
            );
          });
          const r = await Promise.race([Promise.resolve().then(check), timeout]);
          return { name, ok: r.ok, ...(r.reason ? { reason: r.reason } : {}) };
        } catch (err) {
          return { name, ok: false, reason: err instanceof Error ? err.message : String(err) };
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    return { ready: results.every((r) => r.ok), checks: results };
  }
}

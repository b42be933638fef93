// Test support only.
import { accessSync, constants } from 'node:fs';

import { workerBin } from 'mediasoup';

/**
 * Fails early, with the fix, when the worker binary is missing. mediasoup looks it up in
 * MEDIASOUP_WORKER_BIN or at node_modules/mediasoup/worker/out/Release/mediasoup-worker; both are
 * provided by scripts/setup/mediasoup-worker.mjs (built offline, cached outside the clone).
 */
export function assertWorkerBinary(): string {
  try {
    accessSync(workerBin, constants.X_OK);
    return workerBin;
  } catch {
    throw new Error(
      `mediasoup worker binary not found at ${workerBin}; run: node scripts/setup/mediasoup-worker.mjs`,
    );
  }
}

import type { types as ms } from 'mediasoup';

import type { MediaWorker } from './MediaWorker';

/** One router of a room (a room spans several when it outgrows one worker). */
export interface RoomRouter {
  readonly router: ms.Router;
  readonly worker: MediaWorker;
  readonly audioLevelObserver: ms.AudioLevelObserver;
  /** Consumers of the peers placed on this router; drives the spill-over decision. */
  consumers: number;
}

import { sfuEnv } from '@parley/config';
import type { RoomStats } from '@parley/media';
import { streamTotals } from './media.metrics';
import { nodeToken, poolOptions, roomDefaults } from './media.service';

const config = (env: Record<string, string> = {}) => sfuEnv.parse(env);

describe('sfu settings', () => {
  it('SFU_WORKERS=0 means one worker per core and SFU_RTC_PORT_BASE=0 any free port', () => {
    const o = poolOptions(config({ SFU_WORKERS: '0', SFU_RTC_PORT_BASE: '0' }));
    expect(o.numWorkers).toBeUndefined();
    expect(o.basePort).toBeUndefined();
  });

  it('passes workers, listen and announced addresses, port base, polling and the binary to the pool', () => {
    const o = poolOptions(
      config({
        SFU_WORKERS: '3',
        SFU_LISTEN_IP: '0.0.0.0',
        SFU_ANNOUNCED_ADDRESS: 'media.example.com',
        SFU_RTC_PORT_BASE: '41000',
        SFU_WORKER_POLL_MS: '250',
        MEDIASOUP_WORKER_BIN: '/opt/mediasoup-worker',
      }),
    );
    expect(o).toMatchObject({
      numWorkers: 3,
      listenIp: '0.0.0.0',
      announcedAddress: 'media.example.com',
      basePort: 41000,
      resourcePollIntervalMs: 250,
      workerBin: '/opt/mediasoup-worker',
      logLevel: 'warn',
    });
  });

  it('room defaults come from the idle timeout, consumer threshold and audio level interval', () => {
    expect(
      roomDefaults(
        config({
          SFU_ROOM_IDLE_TIMEOUT_S: '7',
          SFU_CONSUMERS_PER_ROUTER: '50',
          SFU_AUDIO_LEVEL_INTERVAL_MS: '300',
        }),
      ),
    ).toEqual({ idleTimeoutMs: 7000, consumersPerRouter: 50, audioLevel: { intervalMs: 300 } });
  });

  it('node ids become subject-token safe', () => {
    expect(nodeToken('sfu-1')).toBe('sfu-1');
    expect(nodeToken('host.example.com-12-ab')).toBe('host_example_com-12-ab');
    expect(nodeToken('x'.repeat(200))).toHaveLength(128);
  });
});

describe('streamTotals()', () => {
  it('sums bitrates and losses over every room and averages the loss fractions', () => {
    const stream = (bitrate: number, packetsLost: number, fractionLost: number) =>
      ({ bitrate, packetsLost, fractionLost }) as RoomStats['producers'][number];
    const rooms = [
      { producers: [stream(32_000, 2, 0.1)], consumers: [stream(30_000, 1, 0)] },
      { producers: [stream(40_000, -1, 0.3)], consumers: [stream(10_000, 3, 0.2)] },
    ] as unknown as RoomStats[];
    const t = streamTotals(rooms);
    expect(t).toMatchObject({
      inBitrate: 72_000,
      outBitrate: 40_000,
      inPacketsLost: 2,
      outPacketsLost: 4,
    });
    expect(t.inFractionLost).toBeCloseTo(0.2);
    expect(t.outFractionLost).toBeCloseTo(0.1);
    expect(streamTotals([])).toEqual({
      inBitrate: 0,
      outBitrate: 0,
      inPacketsLost: 0,
      outPacketsLost: 0,
      inFractionLost: 0,
      outFractionLost: 0,
    });
  });
});

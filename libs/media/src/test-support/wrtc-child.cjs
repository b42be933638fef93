// Child process hosting @roamhq/wrtc clients for the integration tests.
// @roamhq/wrtc 0.10 segfaults in its N-API cleanup at process exit as soon as an
// RTCAudioSource/RTCAudioSink was created (node-webrtc issue #636), which would turn a green jest
// run into exit code 139. Here it lives in a child that the parent SIGKILLs, so it never exits
// through that path. Protocol: parent sends { id, cmd, ...args }, child replies { id, ok, result }.
'use strict';
const wrtc = require('@roamhq/wrtc');

let pc;
let toneTimer;
let sink;
const rx = { samples: 0, toneSamples: 0, sumSquares: 0, zeroCrossings: 0, sampleRate: 48000 };

// Calls `frame()` once per 10 ms of wall clock, catching up after late timer ticks, so the audio
// clock of the sender does not fall behind real time on a busy machine.
function every10ms(frame) {
  const t0 = Date.now();
  let sent = 0;
  toneTimer = setInterval(() => {
    const due = Math.floor((Date.now() - t0) / 10);
    for (; sent < due; sent++) frame();
  }, 10);
}

function startTone(source, frequencyHz) {
  const sampleRate = 48000;
  const frame = sampleRate / 100;
  let phase = 0;
  every10ms(() => {
    const samples = new Int16Array(frame);
    for (let i = 0; i < frame; i++) {
      samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * frequencyHz * phase++) / sampleRate));
    }
    source.onData({
      samples,
      sampleRate,
      bitsPerSample: 16,
      channelCount: 1,
      numberOfFrames: frame,
    });
  });
}

// Plays `pcm` (48 kHz mono Int16), then `silenceMs` of silence, `repeat` times; then silence.
function startPcm(source, pcm, silenceMs, repeat) {
  const sampleRate = 48000;
  const frame = sampleRate / 100;
  const gap = Math.round((silenceMs * sampleRate) / 1000);
  const cycle = pcm.length + gap;
  let pos = 0;
  every10ms(() => {
    const samples = new Int16Array(frame);
    for (let i = 0; i < frame; i++, pos++) {
      if (pos < cycle * repeat) {
        const p = pos % cycle;
        samples[i] = p < pcm.length ? pcm[p] : 0;
      }
    }
    source.onData({
      samples,
      sampleRate,
      bitsPerSample: 16,
      channelCount: 1,
      numberOfFrames: frame,
    });
  }, 10);
}

function onPcm(data) {
  rx.sampleRate = data.sampleRate;
  const mono = [];
  for (let i = 0; i < data.samples.length; i += data.channelCount) mono.push(data.samples[i]);
  rx.samples += mono.length;
  let energy = 0;
  for (const s of mono) energy += s * s;
  // Frames before the first packet (and concealment) are near-silent; only tone frames count.
  if (mono.length === 0 || Math.sqrt(energy / mono.length) < 500) return;
  rx.toneSamples += mono.length;
  rx.sumSquares += energy;
  for (let i = 1; i < mono.length; i++) if (mono[i] >= 0 !== mono[i - 1] >= 0) rx.zeroCrossings++;
}

const handlers = {
  async sendOffer({ frequencyHz, pcm, silenceMs, repeat }) {
    pc = new wrtc.RTCPeerConnection({ iceServers: [] });
    const source = new wrtc.nonstandard.RTCAudioSource();
    pc.addTransceiver(source.createTrack(), { direction: 'sendonly' });
    if (pcm) {
      const bytes = Buffer.from(pcm, 'base64');
      const samples = new Int16Array(bytes.length >> 1);
      for (let i = 0; i < samples.length; i++) samples[i] = bytes.readInt16LE(2 * i);
      startPcm(source, samples, silenceMs || 0, repeat || 1);
    } else startTone(source, frequencyHz);
    await pc.setLocalDescription(await pc.createOffer());
    return { sdp: pc.localDescription.sdp };
  },
  async recvAnswer({ offerSdp }) {
    pc = new wrtc.RTCPeerConnection({ iceServers: [] });
    pc.ontrack = (ev) => {
      sink = new wrtc.nonstandard.RTCAudioSink(ev.track);
      sink.ondata = onPcm;
    };
    await pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
    await pc.setLocalDescription(await pc.createAnswer());
    return { sdp: pc.localDescription.sdp };
  },
  async setAnswer({ sdp }) {
    await pc.setRemoteDescription({ type: 'answer', sdp });
    return {};
  },
  async state() {
    return { ...rx, connectionState: pc ? pc.connectionState : 'new' };
  },
};

process.on('message', async (msg) => {
  try {
    const result = await handlers[msg.cmd](msg);
    process.send({ id: msg.id, ok: true, result });
  } catch (err) {
    process.send({ id: msg.id, ok: false, error: String((err && err.message) || err) });
  }
});
// Never exit through wrtc's crashing cleanup, even when the parent goes away.
process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));

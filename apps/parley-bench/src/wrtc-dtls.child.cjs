// Child process of the join bench: hosts the @roamhq/wrtc (libwebrtc, what Chrome runs) peer
// connections of the real ICE + DTLS sample, so a sampled join pays what a browser pays for its
// handshake (native DTLS) instead of werift's JavaScript crypto, and the bench's own event loop is
// not blocked by it. @roamhq/wrtc crashes in its N-API cleanup at exit (node-webrtc #636): the
// parent SIGKILLs this process, which never exits through that path.
//
// Protocol (IPC, ChildRpc of @parley/media/testing): { id, cmd, key, ... } → { id, ok, result | error }.
//   ready                               → {}        wrtc is loaded
//   offer    { key }                     → { sdp }   send-side PC, local offer (sendonly audio)
//   complete { key, txAnswer, rxOffer }  → { sdp }   remote answer for it; recv-side PC answers
//   connected{ key, timeoutMs }          → {}        both PCs reached 'connected'
//   close    { key }                     → {}
'use strict';
const wrtc = require('@roamhq/wrtc');

/** key → { tx, rx } */
const pcs = new Map();

function connected(pc, timeoutMs) {
  if (pc.connectionState === 'connected') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`DTLS not connected (${pc.connectionState})`)),
      timeoutMs,
    );
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'connected') {
        clearTimeout(t);
        resolve();
      } else if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
        clearTimeout(t);
        reject(new Error(`peer connection ${pc.connectionState}`));
      }
    });
  });
}

const handlers = {
  async ready() {
    return {};
  },
  async offer({ key }) {
    const tx = new wrtc.RTCPeerConnection({ iceServers: [] });
    pcs.set(key, { tx });
    tx.addTransceiver('audio', { direction: 'sendonly' });
    await tx.setLocalDescription(await tx.createOffer());
    return { sdp: tx.localDescription.sdp };
  },
  async complete({ key, txAnswer, rxOffer }) {
    const e = pcs.get(key);
    if (!e) throw new Error(`unknown key ${key}`);
    await e.tx.setRemoteDescription({ type: 'answer', sdp: txAnswer });
    e.rx = new wrtc.RTCPeerConnection({ iceServers: [] });
    await e.rx.setRemoteDescription({ type: 'offer', sdp: rxOffer });
    await e.rx.setLocalDescription(await e.rx.createAnswer());
    return { sdp: e.rx.localDescription.sdp };
  },
  async connected({ key, timeoutMs }) {
    const e = pcs.get(key);
    if (!e || !e.rx) throw new Error(`unknown key ${key}`);
    await Promise.all([connected(e.tx, timeoutMs), connected(e.rx, timeoutMs)]);
    return {};
  },
  async close({ key }) {
    const e = pcs.get(key);
    pcs.delete(key);
    e?.tx?.close();
    e?.rx?.close();
    return {};
  },
};

process.on('message', async (msg) => {
  try {
    const fn = handlers[msg.cmd];
    if (!fn) throw new Error(`unknown command ${msg.cmd}`);
    process.send({ id: msg.id, ok: true, result: await fn(msg) });
  } catch (err) {
    process.send({ id: msg.id, ok: false, error: String((err && err.message) || err) });
  }
});
process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));

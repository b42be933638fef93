// The demo page served at `/` (bundled by esbuild, see demo.bundle.ts): join a room with a
// development token or an API key, publish the microphone, hear everyone (the agent included),
// watch live transcripts, make the agent speak, and see the last measured latencies.
import {
  type LatencySample,
  type Participant,
  ProtocolError,
  RoomClient,
  SpeechMeter,
  type TranscriptEvent,
} from '@parley/client';

interface TokenGrant {
  token: string;
  wsUrl: string;
  identity: string;
  room: string;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
};
const input = (id: string) => $<HTMLInputElement>(id);

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

function log(msg: string): void {
  $('log').textContent = msg;
}

function describe(err: unknown): string {
  if (err instanceof ProtocolError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}

const ms = (v: number) => `${Math.round(v)} ms`;

// ---------------------------------------------------------------------------------------------
// Tokens

async function postJson(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

async function failure(res: Response): Promise<Error> {
  const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
  return new Error(`${body.code ?? res.status}: ${body.message ?? res.statusText}`);
}

function wsBase(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws`;
}

/** A token: from the dev endpoint, a pasted token, or the tenant's API key (REST). */
async function getToken(
  devTokens: boolean,
  identity: string,
  name: string,
  room: string,
  options: { transcription: boolean; agent: 'echo' | 'none' },
): Promise<TokenGrant> {
  if (devTokens) {
    const res = await postJson('/demo/token', { identity, room, name, ...options });
    if (!res.ok) throw await failure(res);
    return (await res.json()) as TokenGrant;
  }
  const pasted = input('token').value.trim();
  if (pasted) return { token: pasted, wsUrl: wsBase(), identity, room };
  const key = input('api-key').value.trim();
  const secret = input('api-secret').value;
  if (!key || !secret) throw new Error('enter an API key and secret, or a token');
  const auth = { authorization: `Basic ${btoa(`${key}:${secret}`)}` };
  const created = await postJson('/v1/rooms', { name: room, ...options }, auth);
  if (!created.ok && created.status !== 409) throw await failure(created);
  const res = await postJson('/v1/tokens', { identity, room, name }, auth);
  if (!res.ok) throw await failure(res);
  return (await res.json()) as TokenGrant;
}

// ---------------------------------------------------------------------------------------------
// The room view

class RoomView {
  private meter?: SpeechMeter;
  private micTrack?: MediaStreamTrack;
  private readonly lines = new Map<string, HTMLElement>();
  private readonly sinks = new Map<string, HTMLAudioElement>();
  private statsTimer?: ReturnType<typeof setInterval>;

  constructor(readonly room: RoomClient) {
    room.on('state', (s) => this.showState(s));
    for (const e of ['participantJoined', 'participantLeft', 'participantUpdated'] as const) {
      room.on(e, () => this.renderPeople());
    }
    room.on('trackAdded', (t) => {
      if (t.kind !== 'audio') return;
      const a = el('audio', { 'data-producer-id': t.producerId });
      a.autoplay = true;
      a.srcObject = new MediaStream([t.track]);
      $('audio-sinks').append(a);
      this.sinks.set(t.producerId, a);
      void a.play().catch(() => undefined);
    });
    room.on('trackRemoved', (t) => {
      this.sinks.get(t.producerId)?.remove();
      this.sinks.delete(t.producerId);
    });
    room.on('transcriptPartial', (t) => this.transcript(t));
    room.on('transcriptFinal', (t) => this.transcript(t));
    room.on('ttsStarted', (t) => {
      const server =
        typeof t['firstPacketAt'] === 'number' && typeof t['requestedAt'] === 'number'
          ? (t['firstPacketAt'] as number) - (t['requestedAt'] as number)
          : undefined;
      if (server !== undefined) this.latency('lat-say-server', server);
      this.agentLine(t.requestId, t.text ?? '', false);
      $('say-status').textContent = 'speaking…';
    });
    room.on('ttsEnded', (t) => {
      $('say-status').textContent = `done (${t.reason ?? 'done'})`;
      const line = this.lines.get(`say:${t.requestId}`);
      line?.classList.replace('partial', 'final');
    });
    room.on('latency', (l) => this.onLatency(l));
    room.on('micMuted', () => this.renderMic());
    room.on('reconnecting', (r) => log(`connection lost; reconnecting (attempt ${r.attempt})…`));
    room.on('reconnected', (r) => log(r.resumed ? 'reconnected' : 'reconnected as a new peer'));
    room.on('removed', (r) => log(`removed from the room (${r.reason})`));
    room.on('error', (err) => log(describe(err)));
    room.on('closed', () => this.teardown());
  }

  async start(withMic: boolean): Promise<void> {
    const info = await this.room.join();
    $('room-title').textContent = `Room ${info.room}`;
    $('room-hint').textContent = info.roomOptions.transcription
      ? 'live transcription on'
      : 'live transcription off for this room';
    $('join-card').hidden = true;
    $('room-view').hidden = false;
    this.renderPeople();
    this.renderMic();
    this.statsTimer = setInterval(() => void this.renderInbound(), 1000);
    if (withMic) await this.micOn();
  }

  async toggleMic(): Promise<void> {
    if (!this.room.micProducerId) return this.micOn();
    await this.room.setMicMuted(!this.room.micMuted);
    this.renderMic();
  }

  async say(text: string): Promise<void> {
    $('say-status').textContent = 'asking…';
    const r = await this.room.say(text);
    $('say-status').textContent = r.queued > 0 ? `queued behind ${r.queued}` : 'accepted';
  }

  private async micOn(): Promise<void> {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: false, autoGainControl: false },
    });
    const track = stream.getAudioTracks()[0];
    if (!track) throw new Error('no microphone track');
    this.micTrack = track;
    await this.room.publish(track);
    this.meter = new SpeechMeter(track);
    this.meter.on('speechStarted', () => this.renderPeople());
    this.meter.on('speechEnded', (e) => {
      this.room.markSpeech({ startedAt: e.startedAt, endedAt: e.at });
      this.renderPeople();
    });
    this.meter.on('level', (db) => this.renderLevel(db));
    await this.meter.start();
    this.renderMic();
    this.renderPeople();
  }

  private showState(s: string): void {
    const st = $('state');
    st.dataset['state'] = s;
    st.textContent = s === 'new' ? 'not joined' : s;
  }

  private renderMic(): void {
    const b = $<HTMLButtonElement>('mic-toggle');
    const on = !!this.room.micProducerId && !this.room.micMuted;
    b.textContent = on ? 'Mute microphone' : 'Microphone on';
    b.dataset['on'] = String(on);
  }

  private renderLevel(db: number): void {
    const me = this.room.peerId;
    const bar = me
      ? document.querySelector<HTMLElement>(`li[data-peer-id="${CSS.escape(me)}"] .level > i`)
      : null;
    if (bar) bar.style.width = `${Math.max(0, Math.min(100, ((db + 60) / 60) * 100))}%`;
  }

  private renderPeople(): void {
    const ul = $('participants');
    ul.replaceChildren(
      ...this.room.participants.map((p) => {
        const speaking = p.isLocal ? p.speaking || !!this.meter?.speaking : p.speaking;
        return el(
          'li',
          {
            'data-peer-id': p.peerId,
            'data-identity': p.identity,
            'data-speaking': String(speaking),
            'data-local': String(p.isLocal),
            'data-producing': String(p.producerIds.length > 0),
          },
          el('span', { class: 'dot' }),
          el('span', {}, this.name(p)),
          ...(p.isLocal ? [el('span', { class: 'tag' }, 'you')] : []),
          ...(p.isAgent ? [el('span', { class: 'tag' }, 'agent')] : []),
          ...(p.producerIds.length === 0 && !p.isAgent
            ? [el('span', { class: 'tag' }, 'no mic')]
            : []),
          el('span', { class: 'level' }, el('i')),
        );
      }),
    );
  }

  private name(p: Participant | undefined, fallback = '?'): string {
    return p?.displayName ?? p?.identity ?? fallback;
  }

  private transcript(t: TranscriptEvent): void {
    document.getElementById('transcripts-empty')?.remove();
    const who = this.room.participants.find((p) => p.peerId === t.peerId);
    let line = this.lines.get(t.utteranceId);
    if (!line) {
      line = el(
        'div',
        { class: 'line', 'data-utterance-id': t.utteranceId, 'data-peer-id': t.peerId },
        el('span', { class: 'who' }, this.name(who, t.identity ?? t.peerId)),
        el('span', { class: 'text' }),
        el('span', { class: 'meta' }),
      );
      this.lines.set(t.utteranceId, line);
      this.append(line);
    }
    // A partial that arrives after its final (different paths, same utterance) changes nothing.
    if (line.dataset['final'] === 'true' && !t.final) return;
    line.classList.toggle('partial', !t.final);
    line.classList.toggle('final', t.final);
    line.dataset['final'] = String(t.final);
    (line.querySelector('.text') as HTMLElement).textContent = t.text || '…';
    const span =
      t.endMs !== undefined ? `${((t.endMs - t.startMs) / 1000).toFixed(1)} s of speech` : '';
    const eos = t.final && t.isLocal ? this.room.latencies.eosToFinal : undefined;
    const lat = eos?.ref === t.utteranceId ? ` · final ${ms(eos.ms)} after you stopped` : '';
    (line.querySelector('.meta') as HTMLElement).textContent = `${span}${lat}`;
  }

  private agentLine(requestId: string, text: string, final: boolean): void {
    document.getElementById('transcripts-empty')?.remove();
    const line = el(
      'div',
      { class: `line agent ${final ? 'final' : 'partial'}`, 'data-say-id': requestId },
      el('span', { class: 'who' }, 'Agent'),
      el('span', { class: 'text' }, text),
    );
    this.lines.set(`say:${requestId}`, line);
    this.append(line);
  }

  private append(line: HTMLElement): void {
    const box = $('transcripts');
    const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 20;
    box.append(line);
    while (box.children.length > 200) box.firstElementChild?.remove();
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  private onLatency(l: LatencySample): void {
    const id = { join: 'lat-join', eosToFinal: 'lat-eos', sayToFirstAudio: 'lat-say' }[l.kind];
    this.latency(id, l.ms);
  }

  private latency(id: string, v: number): void {
    const dd = $(id);
    dd.textContent = ms(v);
    dd.dataset['ms'] = String(v);
  }

  private async renderInbound(): Promise<void> {
    const stats = await this.room.getInboundStats();
    const rows = stats.map((s) => {
      const who = this.room.participants.find((p) => p.peerId === s.peerId);
      return el(
        'tr',
        { 'data-peer-id': s.peerId, 'data-bytes': String(s.bytesReceived) },
        el('td', {}, this.name(who, s.peerId)),
        el('td', {}, `${(s.bytesReceived / 1024).toFixed(1)} KiB`),
        el('td', {}, `${s.packetsReceived} packets`),
        el('td', {}, `${s.packetsLost} lost`),
      );
    });
    $('inbound').replaceChildren(
      ...(rows.length
        ? rows
        : [el('tr', {}, el('td', { class: 'empty' }, 'nothing received yet'))]),
    );
  }

  private teardown(): void {
    clearInterval(this.statsTimer);
    this.meter?.stop();
    this.micTrack?.stop();
    for (const a of this.sinks.values()) a.remove();
    this.sinks.clear();
    $('room-view').hidden = true;
    $('join-card').hidden = false;
    $<HTMLButtonElement>('join').disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Service status (every service as seen over NATS)

async function refreshStatus(): Promise<void> {
  const started = performance.now();
  try {
    const res = await fetch('/v1/status');
    const body = (await res.json()) as {
      services: Array<{
        service: string;
        reachable: boolean;
        nodeId?: string;
        version?: string;
        error?: { code: string; message: string };
        readiness?: {
          ready: boolean;
          checks: Array<{ name: string; ok: boolean; reason?: string }>;
        };
      }>;
    };
    $('rows').replaceChildren(
      ...body.services.map((s) => {
        if (!s.reachable) {
          return el(
            'tr',
            {},
            el('td', {}, s.service),
            el('td', { colspan: '2' }, '—'),
            el('td', { class: 'bad' }, 'unreachable'),
            el('td', { class: 'reason' }, `${s.error?.code}: ${s.error?.message}`),
          );
        }
        const ready = !!s.readiness?.ready;
        const checks = el('td');
        for (const c of s.readiness?.checks ?? []) {
          checks.append(
            el('code', {}, c.name),
            c.ok ? ' ✓ ' : el('span', { class: 'reason' }, ` ✗ ${c.reason ?? ''} `),
          );
        }
        return el(
          'tr',
          {},
          el('td', {}, s.service),
          el('td', {}, s.nodeId ?? ''),
          el('td', {}, s.version ?? ''),
          el('td', { class: ready ? 'ok' : 'bad' }, ready ? 'ready' : 'not ready'),
          checks,
        );
      }),
    );
    $('meta').textContent =
      `status in ${Math.round(performance.now() - started)} ms · correlation id ${res.headers.get('x-correlation-id')}`;
  } catch (err) {
    $('meta').textContent = `status failed: ${describe(err)}`;
  }
}

// ---------------------------------------------------------------------------------------------

declare global {
  interface Window {
    /** The page's live objects, for the browser test and the console. */
    parley?: { room?: RoomClient; view?: RoomView; devTokens: boolean };
  }
}

async function boot(): Promise<void> {
  const q = new URLSearchParams(location.search);
  input('identity').value = q.get('identity') ?? `guest-${Math.random().toString(36).slice(2, 6)}`;
  input('room').value = q.get('room') ?? 'lobby';
  if (q.get('agent') === 'echo') input('opt-agent').checked = true;
  if (q.get('transcription') === '0') input('opt-transcription').checked = false;
  if (q.get('mic') === '0') input('opt-mic').checked = false;

  const cfg = (await fetch('/demo/config')
    .then((r) => r.json())
    .catch(() => ({ devTokens: false }))) as { devTokens: boolean };
  window.parley = { devTokens: cfg.devTokens };
  $('credentials').hidden = cfg.devTokens;

  let view: RoomView | undefined;
  $('join-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const button = $<HTMLButtonElement>('join');
    button.disabled = true;
    log('');
    const name = input('identity').value.trim();
    // Identities are a restricted alphabet; the name as typed is the display name.
    const identity = name.replace(/[^A-Za-z0-9_.@:+=-]+/g, '-').slice(0, 128) || 'guest';
    const roomName = input('room').value.trim();
    void (async () => {
      try {
        const grant = await getToken(cfg.devTokens, identity, name, roomName, {
          transcription: input('opt-transcription').checked,
          agent: input('opt-agent').checked ? 'echo' : 'none',
        });
        const room = new RoomClient({ url: grant.wsUrl, token: grant.token, displayName: name });
        view = new RoomView(room);
        window.parley = { ...window.parley, devTokens: cfg.devTokens, room, view };
        await view.start(input('opt-mic').checked);
      } catch (err) {
        log(describe(err));
        button.disabled = false;
      }
    })();
  });
  $('credentials').addEventListener('submit', (ev) => {
    ev.preventDefault();
    $('join').click();
  });
  $('mic-toggle').addEventListener('click', () => {
    view?.toggleMic().catch((err: unknown) => log(describe(err)));
  });
  $('leave').addEventListener('click', () => void view?.room.leave());
  $('say-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = input('say-text').value.trim();
    if (!text || !view) return;
    view
      .say(text)
      .then(() => (input('say-text').value = ''))
      .catch((err: unknown) => {
        $('say-status').textContent = '';
        log(describe(err));
      });
  });

  $('services').addEventListener('toggle', () => void refreshStatus());
  void refreshStatus();
  setInterval(() => {
    if (($('services') as HTMLDetailsElement).open) void refreshStatus();
  }, 3000);
}

void boot();

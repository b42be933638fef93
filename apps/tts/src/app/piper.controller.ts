import { Controller, Get, HttpCode, Inject, Post, Query, Req, Res } from '@nestjs/common';
import type { TtsConfig } from '@parley/config';
import type { Logger } from '@parley/observability';
import { CONFIG, LOGGER, ParleyError } from '@parley/runtime';
import {
  type PiperSynthesisRequest,
  formBodyToText,
  parsePiperBody,
  parsePiperJson,
  parsePiperQuery,
  piperInfo,
  piperVoicesListing,
  resolvePiperRequest,
} from '@parley/tts-engine';
import type { Request, Response } from 'express';
import { SpeechResponder, abortOnClose } from './speech.responder';
import { TtsService } from './tts.service';

async function readText(req: Request, limit: number): Promise<string> {
  if (req.readableEnded || req.complete) return '';
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of req as AsyncIterable<Buffer>) {
    size += part.length;
    if (size > limit)
      throw new ParleyError('PAYLOAD_TOO_LARGE', `request body exceeds ${limit} bytes`, 413);
    parts.push(part);
  }
  return Buffer.concat(parts).toString('utf8');
}

/**
 * Piper's HTTP server, compatible with clients of both rhasspy/piper (`GET /?text=…`,
 * `POST /` with a text body) and piper1 (`POST /` or `POST /synthesize` with JSON, `GET /voices`,
 * `GET /info`). Always answers a whole WAV, as Piper does; Piper's fallbacks apply (unknown voice
 * → default voice, unknown speaker → 0) and characters the voice cannot speak are dropped rather
 * than refused, since Piper never refuses text. Signaling owns `/` on its own port; this is the
 * TTS port.
 */
@Controller()
export class PiperController {
  constructor(
    @Inject(TtsService) private readonly tts: TtsService,
    @Inject(SpeechResponder) private readonly responder: SpeechResponder,
    @Inject(CONFIG) private readonly config: TtsConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @Get()
  async get(@Query() query: Record<string, unknown>, @Res() res: Response): Promise<void> {
    const started = performance.now();
    let req: PiperSynthesisRequest;
    try {
      req = parsePiperQuery(query);
    } catch (err) {
      throw this.responder.refused('piper', err);
    }
    await this.synthesize(req, res, started);
  }

  @Post()
  @HttpCode(200)
  async post(@Req() req: Request, @Res() res: Response): Promise<void> {
    await this.synthesize(await this.readBody(req), res, performance.now());
  }

  @Post('synthesize')
  @HttpCode(200)
  async postSynthesize(@Req() req: Request, @Res() res: Response): Promise<void> {
    await this.synthesize(await this.readBody(req), res, performance.now());
  }

  @Get('voices')
  voices(): Promise<Record<string, unknown>> {
    return piperVoicesListing(this.tts.synth.registry.list());
  }

  @Get('info')
  info() {
    return piperInfo(this.tts.defaultVoiceInfo(), this.tts.last);
  }

  private async readBody(req: Request): Promise<PiperSynthesisRequest> {
    try {
      if (req.is('application/json')) return parsePiperJson(req.body);
      // `curl --data 'text'` sends a form content type; the form parser already took the body.
      if (req.is('application/x-www-form-urlencoded') && req.body && typeof req.body === 'object')
        return parsePiperBody(formBodyToText(req.body as Record<string, unknown>));
      return parsePiperBody(await readText(req, this.config.TTS_MAX_BODY_BYTES));
    } catch (err) {
      throw this.responder.refused('piper', err);
    }
  }

  private async synthesize(
    req: PiperSynthesisRequest,
    res: Response,
    started: number,
  ): Promise<void> {
    const ac = abortOnClose(res);
    const synth = this.tts.synth;
    let stream;
    try {
      const resolved = resolvePiperRequest(req, {
        defaultVoice: synth.defaultVoice,
        has: (name) => synth.registry.has(name),
        speakers: (name) => {
          const info = synth.registry.info(name);
          return { numSpeakers: info.numSpeakers, speakerIdMap: info.speakers };
        },
      });
      for (const warning of resolved.warnings)
        this.logger.warn(`piper() | ${warning}`, { voice: resolved.voice });
      stream = await synth.speak(
        {
          text: req.text,
          voice: resolved.voice,
          speaker: resolved.speakerId,
          lengthScale: req.lengthScale,
          noiseScale: req.noiseScale,
          noiseW: req.noiseW,
          unspeakable: 'drop',
        },
        ac.signal,
      );
    } catch (err) {
      throw this.responder.refused('piper', err);
    }
    await this.responder.send(res, stream, ac.signal, {
      api: 'piper',
      format: 'wav',
      streaming: false,
      started,
      text: req.text,
    });
  }
}

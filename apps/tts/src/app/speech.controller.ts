import { Body, Controller, Get, HttpCode, Inject, Post, Res } from '@nestjs/common';
import {
  PhonemesHttpRequest,
  type PhonemesHttpResponse,
  SpeechHttpRequest,
} from '@parley/contracts';
import type { Response } from 'express';
import { SpeechResponder, abortOnClose } from './speech.responder';
import { ttsHttpError } from './tts-errors';
import { TtsService } from './tts.service';
import { ZodPipe } from '@parley/runtime';

/**
 * Parley's TTS API: `POST /v1/speech` (JSON; WAV, raw PCM or Ogg/Opus; whole or streamed
 * sentence by sentence), `POST /v1/phonemes` (what a text becomes, without audio) and
 * `GET /v1/voices`.
 */
@Controller('v1')
export class SpeechController {
  constructor(
    @Inject(TtsService) private readonly tts: TtsService,
    @Inject(SpeechResponder) private readonly responder: SpeechResponder,
  ) {}

  @Get('voices')
  voices() {
    return this.tts.voiceList();
  }

  @Post('phonemes')
  @HttpCode(200)
  async phonemes(
    @Body(new ZodPipe(PhonemesHttpRequest)) body: PhonemesHttpRequest,
  ): Promise<PhonemesHttpResponse> {
    try {
      const voice = await this.tts.synth.voice(body.voice);
      const sentences = await voice.phonemize(body.text, { unspeakable: body.unspeakable });
      return { voice: voice.name, sentences };
    } catch (err) {
      throw ttsHttpError(err);
    }
  }

  @Post('speech')
  @HttpCode(200)
  async speech(
    @Body(new ZodPipe(SpeechHttpRequest)) body: SpeechHttpRequest,
    @Res() res: Response,
  ): Promise<void> {
    const started = performance.now();
    const ac = abortOnClose(res);
    const { format, stream: streaming, roomId, ...params } = body;
    let stream;
    try {
      await this.tts.encoderOptions(format);
      stream = await this.tts.synth.speak(params, ac.signal);
    } catch (err) {
      throw this.responder.refused('speech', err);
    }
    await this.responder.send(res, stream, ac.signal, {
      api: 'speech',
      format,
      streaming,
      started,
      text: params.text,
      roomId,
    });
  }
}

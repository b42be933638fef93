import 'reflect-metadata';
import { main } from '@parley/runtime';
import { ttsService } from './app/tts.definition';

main(ttsService);

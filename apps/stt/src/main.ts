import 'reflect-metadata';
import { main } from '@parley/runtime';
import { sttService } from './app/stt.definition';

main(sttService);

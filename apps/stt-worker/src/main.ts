import 'reflect-metadata';
import { main } from '@parley/runtime';
import { sttWorkerService } from './app/stt-worker.definition';

main(sttWorkerService);

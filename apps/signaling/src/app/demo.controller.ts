import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Controller, Get, Header } from '@nestjs/common';

const PAGE = join(__dirname, '..', '..', 'public', 'index.html');

/** The browser page `npm start` points at. */
@Controller()
export class DemoController {
  private page?: string;

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  index(): string {
    return (this.page ??= readFileSync(PAGE, 'utf8'));
  }
}

import { Controller, Get, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '../auth/auth.decorators';
import { CONSOLE_CSP, ConsoleAsset, ConsoleAssets } from './console-assets';

interface ReplyLike {
  header(name: string, value: string): unknown;
  status(code: number): unknown;
}

/**
 * The support console's page and its two assets (built from src/console into dist/console).
 * Keyless: the page holds no data; it signs in with a support or admin key kept in the tab's
 * memory, and every read it makes goes through the admin API's own guard.
 */
@ApiExcludeController()
@Controller('console')
@Public()
export class ConsoleController {
  constructor(private readonly assets: ConsoleAssets) {}

  @Get()
  page(@Res({ passthrough: true }) reply: ReplyLike): string {
    return this.send(reply, 'index.html');
  }

  @Get('app.js')
  script(@Res({ passthrough: true }) reply: ReplyLike): string {
    return this.send(reply, 'app.js');
  }

  @Get('app.css')
  style(@Res({ passthrough: true }) reply: ReplyLike): string {
    return this.send(reply, 'app.css');
  }

  private send(reply: ReplyLike, name: ConsoleAsset): string {
    const headers: Record<string, string> = {
      'Content-Security-Policy': CONSOLE_CSP,
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-cache',
    };
    const asset = this.assets.get(name);
    if (!asset) {
      for (const [k, v] of Object.entries(headers)) reply.header(k, v);
      reply.header('Content-Type', 'application/json; charset=utf-8');
      reply.status(503);
      return JSON.stringify({ detail: 'The console is not built: run npm run build' });
    }
    for (const [k, v] of Object.entries({ ...headers, 'Content-Type': asset.type, ETag: asset.etag }))
      reply.header(k, v);
    return asset.body;
  }
}

import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The console's Content-Security-Policy: nothing but this origin's own script, style and API. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

const TYPES = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'application/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
} as const;
export type ConsoleAsset = keyof typeof TYPES;

/**
 * Where `npm run build` puts the console: dist/console. From the compiled service
 * (dist/src/modules/console) that is ../../../console; from the sources (tests) ../../../dist/console.
 */
export function consoleDir(): string | null {
  const root = join(__dirname, '..', '..', '..');
  for (const dir of [join(root, 'console'), join(root, 'dist', 'console')])
    if (existsSync(join(dir, 'index.html'))) return dir;
  return null;
}

/** The built files, read once on first use (a few hundred KiB) and kept with their ETag. */
@Injectable()
export class ConsoleAssets {
  private readonly cache = new Map<ConsoleAsset, { body: string; type: string; etag: string }>();

  get(name: ConsoleAsset): { body: string; type: string; etag: string } | null {
    const hit = this.cache.get(name);
    if (hit) return hit;
    const dir = consoleDir();
    if (!dir || !existsSync(join(dir, name))) return null;
    const body = readFileSync(join(dir, name), 'utf8');
    const asset = {
      body,
      type: TYPES[name],
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    };
    this.cache.set(name, asset);
    return asset;
  }
}

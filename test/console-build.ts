import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** Builds src/console into dist/console, as `npm run build` does (esbuild: about a second). */
export function buildConsoleAssets(): void {
  const r = spawnSync(process.execPath, [join(__dirname, '..', 'src', 'console', 'build.js')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`console build failed: ${r.stderr}`);
}

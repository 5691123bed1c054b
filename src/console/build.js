/*
 * Builds the support console (src/console) into dist/console: app.js (main.ts, the typed client
 * and Chart.js bundled by esbuild, minified; no CDN), app.css and index.html copied.
 * `npm run build` runs it after `nest build`; `node src/console/build.js [outdir]`.
 */
const { build } = require('esbuild');
const { copyFileSync, mkdirSync } = require('node:fs');
const { join, resolve } = require('node:path');

async function buildConsole(outdir = resolve(__dirname, '..', '..', 'dist', 'console')) {
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: [join(__dirname, 'main.ts')],
    outfile: join(outdir, 'app.js'),
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['chrome110', 'firefox110', 'safari16'],
    legalComments: 'eof',
    logLevel: 'warning',
  });
  for (const f of ['index.html', 'app.css']) copyFileSync(join(__dirname, f), join(outdir, f));
  return outdir;
}

module.exports = { buildConsole };

if (require.main === module) {
  buildConsole(process.argv[2] && resolve(process.argv[2])).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

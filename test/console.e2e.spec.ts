import { CONSOLE_CSP } from '../src/modules/console/console-assets';
import { buildConsoleAssets } from './console-build';
import { useTestApp } from './test-app';

describe('support console: the page and its assets (e2e)', () => {
  beforeAll(buildConsoleAssets);
  const { api } = useTestApp({ partners: 0 });

  it('GET /console is the page under the strict CSP, with nothing inline', async () => {
    const r = await api.request('GET', '/console');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers['content-security-policy']).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    expect(r.headers['content-security-policy']).toBe(CONSOLE_CSP);
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['referrer-policy']).toBe('no-referrer');
    const html = String(r.body);
    // Every script is an external file of this origin; no <style>, no style="" or on…="" attribute.
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.map((m) => [m[1].trim(), m[2].trim()])).toEqual([['defer src="/console/app.js"', '']]);
    expect(html).not.toMatch(/<style\b/i);
    expect(html).not.toMatch(/\sstyle\s*=/i);
    expect(html).not.toMatch(/\son[a-z]+\s*=/i);
    expect(html).toContain('<link rel="stylesheet" href="/console/app.css" />');
    expect(html).not.toMatch(/https?:\/\//); // no CDN, no other origin
  });

  it('the script and the style are served with their types and the same CSP; nothing else under /console', async () => {
    const js = await api.request('GET', '/console/app.js');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('application/javascript; charset=utf-8');
    expect(js.headers['content-security-policy']).toBe(CONSOLE_CSP);
    expect(String(js.body)).toContain('Chart.js v4'); // bundled locally, with its licence
    const css = await api.request('GET', '/console/app.css');
    expect(css.status).toBe(200);
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    for (const path of ['/console/index.html', '/console/../package.json', '/console/app.js.map', '/console/x']) {
      const r = await api.request('GET', path);
      expect([path, r.status]).toEqual([path, 404]);
    }
  });

  it('the page is keyless and holds no data; the API it calls still needs a support or admin key', async () => {
    const page = await api.request('GET', '/console', { headers: { authorization: 'Bearer nope' } });
    expect(page.status).toBe(200);
    const list = await api.request('GET', '/admin/conversions');
    expect(list.status).toBe(401);
  });
});

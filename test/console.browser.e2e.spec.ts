import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { conversionBody, makeClick } from './api-client';
import { buildConsoleAssets } from './console-build';
import { ADMIN_KEY, useTestApp } from './test-app';

/*
 * The support console in a real browser: Debian's headless Chromium (apt package `chromium`),
 * driven by playwright-core, never a downloaded browser; the app listens on a real port. Each step
 * ends with an assertion on what the page shows. Screenshots of the main views, at 1280 and 390 px
 * wide, go to a temporary directory; with UPDATE_SCREENSHOTS=1 they replace the committed ones in
 * test/screenshots/ (linked from the README), so a plain test run leaves the tree clean.
 */
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(
    `SKIPPED the real-browser console test: ${CHROMIUM} is missing (install it with: apt-get install -y chromium).`,
  );
}
const SHOTS =
  process.env.UPDATE_SCREENSHOTS === '1' ? join(__dirname, 'screenshots') : join(tmpdir(), 'thrad-console-shots');

(hasChromium ? describe : describe.skip)('the support console in headless Chromium (e2e)', () => {
  jest.setTimeout(120_000);
  let appUrl = '';
  let context: BrowserContext;
  let userDataDir: string;
  let supportKey = '';
  let clickId = '';
  let conversionId = '';
  let testClickId = '';
  const problems: string[] = [];

  afterAll(async () => {
    await context?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });
  beforeAll(buildConsoleAssets);
  const { t, api, partner: f } = useTestApp({ env: { ATTEMPTS_FLUSH_INTERVAL: '50ms' } });

  beforeAll(async () => {
    await t.app.listen(0, '127.0.0.1');
    appUrl = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    const k = await api.post('/admin/keys', { role: 'support' }, ADMIN_KEY);
    expect(k.status).toBe(201);
    supportKey = k.body.key;

    // A partner with a long name (as a shared database holds: other suites' partners): its option
    // must not widen the search form's select past a 390 px screen.
    const long = await api.post('/admin/partners', { name: `Long partner name ${'x'.repeat(100)}` }, ADMIN_KEY);
    expect(long.status).toBe(201);

    // The seed's example (README "Try it"), then some history for the partner's health.
    clickId = await makeClick(api, f, { click_id: `clk_xyz_${Date.now()}`, bid_id: 'bid_1' });
    const seed = await api.post(
      '/api/conversion',
      conversionBody(clickId, { order_id: 'order_123', event_type: 'purchase_completed' }),
      f.partnerKey,
      { 'Idempotency-Key': 'order_123' },
    );
    expect(seed.status).toBe(200);
    conversionId = seed.body.conversion_id;
    // Its retry: answered duplicate, kept as an attempt, shown on the timeline.
    const retry = await api.post(
      '/api/conversion',
      conversionBody(clickId, { order_id: 'order_123', event_type: 'purchase_completed' }),
      f.partnerKey,
      { 'Idempotency-Key': 'order_123' },
    );
    expect(retry.body).toMatchObject({ status: 'duplicate', conversion_id: conversionId });
    const refused = await api.post('/api/conversion', conversionBody(clickId, { currency: 'US' }), f.partnerKey);
    expect(refused.status).toBe(422);
    for (let i = 0; i < 4; i++) {
      expect((await api.post('/api/conversion', conversionBody(`clk_nope_${i}`), f.partnerKey)).status).toBe(404);
      const other = await makeClick(api, f);
      expect((await api.post('/api/conversion', conversionBody(other), f.partnerKey)).status).toBe(200);
    }
    // A sandbox conversion: a test key's synthetic click and its conversion (the Test events view).
    const testKey = await api.post(
      '/admin/keys',
      { role: 'partner', partner_id: f.partnerId, mode: 'test' },
      ADMIN_KEY,
    );
    expect(testKey.status).toBe(201);
    const testClick = await api.post('/api/test/clicks', { tag_id: f.tagId, bid_id: 'bid_test' }, testKey.body.key);
    expect(testClick.status).toBe(201);
    testClickId = testClick.body.click_id;
    const testConversion = await api.post(
      '/api/conversion',
      conversionBody(testClickId, { order_id: 'order_test_1' }),
      testKey.body.key,
    );
    expect(testConversion.status).toBe(200);
    // Refused attempts are written in the background: wait until the diagnostics count them.
    for (let i = 0; i < 100; i++) {
      const d = await api.request('GET', `/admin/partners/${f.partnerId}/diagnostics?days=14`, { key: ADMIN_KEY });
      if (d.body.daily.at(-1).refused >= 5) break;
      await new Promise((r) => setTimeout(r, 50));
    }

    mkdirSync(SHOTS, { recursive: true });
    const { chromium } = await import('playwright-core');
    userDataDir = mkdtempSync(join(tmpdir(), 'thrad-console-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      acceptDownloads: true,
      viewport: { width: 1280, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  async function open(): Promise<Page> {
    const p = await context.newPage();
    // Any CSP violation or script error fails the test at its end.
    p.on('console', (m) => {
      // (A refused sign-in's 401/403 is logged by Chromium as a failed resource: expected.)
      if (
        /Content Security Policy/i.test(m.text()) ||
        (m.type() === 'error' && !/^Failed to load resource/.test(m.text()))
      )
        problems.push(m.text());
    });
    p.on('pageerror', (e) => problems.push(String(e)));
    const res = await p.goto(`${appUrl}/console`);
    expect(res!.status()).toBe(200);
    expect(res!.headers()['content-security-policy']).toContain("default-src 'none'");
    await p.getByLabel('Support or admin API key').waitFor();
    return p;
  }

  async function shoot(p: Page, name: string): Promise<void> {
    for (const width of [1280, 390]) {
      await p.setViewportSize({ width, height: width === 390 ? 844 : 900 });
      await p.waitForTimeout(150); // the charts resize to the new width
      await p.screenshot({ path: join(SHOTS, `console-${name}-${width}.png`), fullPage: true });
      // Readable at this width: nothing wider than the window but the tables' own scroll boxes.
      const overflow = await p.evaluate(
        () =>
          (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement
            .scrollWidth,
      );
      expect([name, width, overflow <= width]).toEqual([name, width, true]);
    }
    await p.setViewportSize({ width: 1280, height: 900 });
  }

  it('a partner key cannot sign in; the page says so', async () => {
    const p = await open();
    await p.getByLabel('Support or admin API key').fill(f.partnerKey);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await expect(p.getByRole('alert').textContent()).resolves.toContain(
      'This is a partner key: partner keys cannot sign in to the support console.',
    );
    expect(await p.getByRole('navigation', { name: 'Views' }).count()).toBe(0);
    await p.getByLabel('Support or admin API key').fill('not-a-key');
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByText('This key is not valid (unknown or revoked).').waitFor();
    await shoot(p, 'signin-refused');
    await p.close();
  });

  it('sign in (keyboard only), search, open the click’s timeline, see the health charts with data, export CSV, sign out', async () => {
    const p = await open();

    // 1. Sign in with the keyboard: the key field has the focus, Enter submits.
    await p.keyboard.type(supportKey);
    await p.keyboard.press('Enter');
    await p.getByRole('heading', { name: 'Search conversions' }).waitFor();
    expect(await p.locator('#who-text').textContent()).toBe(`Signed in with key …${supportKey.slice(-4)}`);
    // The key is in no storage and no cookie.
    const stored = await p.evaluate(() => {
      const g = globalThis as unknown as {
        localStorage: { length: number };
        sessionStorage: { length: number };
        document: { cookie: string };
      };
      return [g.localStorage.length, g.sessionStorage.length, g.document.cookie];
    });
    expect(stored).toEqual([0, 0, '']);

    // 2. Search by click id: the seed's conversion.
    await p.getByLabel('Click id', { exact: true }).fill(clickId);
    await p.getByRole('button', { name: 'Search', exact: true }).click();
    const row = p.locator('#search-results tbody tr');
    await row.first().waitFor();
    expect(await row.count()).toBe(1);
    expect(await row.first().innerText()).toContain('order_123');
    expect(await row.first().innerText()).toContain('99.99 USD');
    expect(await p.locator('#search-results caption').textContent()).toBe('Page 1: 1 conversion');

    // Keyset pages: by partner, 5 conversions at 25 a page is one page; Older is disabled.
    await p.getByLabel('Click id', { exact: true }).fill('');
    await p.getByLabel('Partner', { exact: true }).selectOption(f.partnerId);
    await p.getByRole('button', { name: 'Search', exact: true }).click();
    await p.locator('#search-results caption').getByText('Page 1: 5 conversions').waitFor();
    expect(await p.getByRole('button', { name: 'Older →' }).isDisabled()).toBe(true);
    await shoot(p, 'search');

    // 3. Export the current filter to CSV (the partner's 5 conversions).
    const [download] = await Promise.all([
      p.waitForEvent('download'),
      p.getByRole('button', { name: 'Export this filter to CSV' }).click(),
    ]);
    const csv = readFileSync((await download.path())!, 'utf8');
    const lines = csv.trim().split(/\r\n/);
    expect(lines[0]).toMatch(/^id,conversion_time,partner_id,/);
    expect(lines).toHaveLength(6);
    expect(csv).toContain(conversionId);

    // 4. Open the click's timeline from the result (keyboard: focus the link, Enter).
    await p.getByLabel('Partner', { exact: true }).selectOption('');
    await p.getByLabel('Click id', { exact: true }).fill(clickId);
    await p.getByRole('button', { name: 'Search', exact: true }).click();
    await p.getByRole('button', { name: `Open the timeline of click ${clickId}` }).focus();
    await p.keyboard.press('Enter');
    await p.getByRole('heading', { name: 'Click timeline' }).waitFor();
    const summary = p.locator('#explain-summary');
    await summary.waitFor();
    expect(await summary.textContent()).toMatch(/1 conversion/);
    const kinds = await p.locator('ol.timeline li').evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')));
    expect([...kinds].sort()).toEqual(['click', 'conversion', 'duplicate', 'refused_attempt']);
    expect(kinds[0]).toBe('click');
    const timeline = await p.locator('ol.timeline').innerText();
    expect(timeline).toContain(conversionId);
    const duplicate = await p.locator('ol.timeline li[data-kind="duplicate"]').innerText();
    expect(duplicate).toContain('Answered duplicate (same idempotency_key): nothing new stored');
    expect(duplicate).toContain(conversionId);
    expect(timeline).toMatch(/Refused 422/);
    expect(await p.locator('ul.checks li').count()).toBeGreaterThan(3);
    await shoot(p, 'timeline');

    // 4b. Parts the page does not know yet (adjustments and webhook deliveries land later) are
    // drawn generically, in time order, under their part's name.
    await p.route('**/admin/explain?*', async (route) => {
      const res = await route.fetch();
      const doc = await res.json();
      await route.fulfill({
        response: res,
        json: {
          ...doc,
          adjustments: [{ id: 'adj_1', type: 'refund', amount: '-10.00', created_at: '2099-01-01T00:00:00.000Z' }],
          webhook_deliveries: [{ at: '2099-01-02T00:00:00.000Z', status: 200, url: 'https://hooks.example/x' }],
        },
      });
    });
    await p.getByRole('button', { name: 'Explain' }).click();
    await p.locator('ol.timeline li[data-kind="webhook_delivery"]').waitFor();
    const later = await p.locator('ol.timeline li').evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')));
    expect(later.slice(-2)).toEqual(['adjustment', 'webhook_delivery']);
    expect(await p.locator('ol.timeline li[data-kind="adjustment"]').innerText()).toContain('-10.00');
    await p.unroute('**/admin/explain?*');

    // 5. The partner's health: both charts drawn, with data.
    await p.getByRole('button', { name: 'Partner health' }).click();
    await p.getByRole('heading', { name: 'Partner health' }).waitFor();
    await p.getByLabel('Partner', { exact: true }).selectOption(f.partnerId);
    await p.getByRole('button', { name: 'Show the last 14 days' }).click();
    await p.locator('#health-totals').getByText('last 14 days: 5 stored, 5 refused.').waitFor();
    expect(await p.locator('#figure-outcomes').getAttribute('data-points')).toBe('10');
    expect(await p.locator('#figure-refusals').getAttribute('data-points')).toBe('5');
    // Painted: the canvases have coloured pixels (Chart.js drew the bars), not a blank box.
    const painted = await p.evaluate(() => {
      const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<unknown> } }).document;
      return Array.from(
        doc.querySelectorAll('canvas') as ArrayLike<{
          width: number;
          height: number;
          getContext(t: '2d'): {
            getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
          };
        }>,
      ).map((c) => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] !== d[i + 1] || d[i + 1] !== d[i + 2])) n++;
        return n;
      });
    });
    expect(painted).toHaveLength(2);
    expect(painted.every((n) => n > 200)).toBe(true);
    const figures = await p.locator('table').last().innerText();
    expect(figures).toContain('click_not_found: 4');
    expect(figures).toContain('validation: 1');
    expect(await p.getByRole('list', { name: 'Alerts' }).innerText()).toContain('Click not found');
    await shoot(p, 'health');

    // 6. Test events: the sandbox's conversion is listed, and none of the live ones.
    await p.getByRole('button', { name: 'Test events' }).click();
    const testEvents = p.locator('#test-events-out');
    await testEvents.getByRole('button', { name: testClickId }).waitFor();
    const listed = await testEvents.innerText();
    expect(listed).toContain('order_test_1');
    expect(listed).not.toContain('order_123');
    expect(listed).not.toContain(clickId);
    await shoot(p, 'test-events');

    // 7. Sign out: back to the sign-in form; the API is no longer called with the key.
    await p.getByRole('button', { name: 'Sign out' }).click();
    await p.getByText('Signed out: the key is forgotten.').waitFor();
    expect(await p.getByLabel('Support or admin API key').inputValue()).toBe('');

    expect(problems).toEqual([]);
    await p.close();
  });
});

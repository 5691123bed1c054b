import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { DataSource } from 'typeorm';
import { conversionBody, Fixture, makePartner, SEED_TIME_WARNING } from './api-client';
import { useTestApp } from './test-app';
import { LinkSigner } from '../src/modules/tag/link-signer';

/** The page-side view of the Tag (this file compiles without the DOM library). */
type TagWindow = { thrad: (c: string, d?: object) => unknown };

/*
 * The browser path in a real browser: Debian's headless Chromium (apt package `chromium`), driven
 * by playwright-core, never a downloaded browser. The app listens on a real port; a second local
 * server plays the advertiser's site (its origin allowed by the tag), a third a site that is not.
 */
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(
    `SKIPPED the real-browser Tag test: ${CHROMIUM} is missing (install it with: apt-get install -y chromium).`,
  );
}

function page(appUrl: string, title: string): string {
  // On /queued, the page calls thrad() before tag.js has loaded: the snippet's queue keeps the call.
  const queued = title.startsWith('/queued')
    ? `<script>thrad('conversion', { conversion_value: 5, currency: 'USD', event_type: 'lead_created', event_id: 'evt_queued' });</script>`
    : '';
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>
<script>window.thrad=window.thrad||function(){(thrad.q=thrad.q||[]).push(arguments)};</script>
${queued}
<script async src="${appUrl}/tag.js"></script>
</head><body><h1>${title}</h1></body></html>`;
}

async function site(appUrl: () => string): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    if (req.url === '/favicon.ico') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(appUrl(), req.url ?? '/'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function tagLoaded(p: Page): Promise<void> {
  await p.waitForFunction(
    () => typeof (globalThis as unknown as { thrad?: { v?: string } }).thrad?.v === 'string',
    undefined,
    { timeout: 10_000 },
  );
}

(hasChromium ? describe : describe.skip)('the Tag in headless Chromium (e2e)', () => {
  jest.setTimeout(90_000);
  let f: Fixture;
  let appUrl = '';
  let shop: { server: Server; origin: string };
  let evil: { server: Server; origin: string };
  let context: BrowserContext;
  let userDataDir: string;

  // Declared before useTestApp's, so it runs first: the browser and the sites go before the app.
  afterAll(async () => {
    await context?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    await new Promise((r) => shop?.server.close(r));
    await new Promise((r) => evil?.server.close(r));
  });
  const { t, api } = useTestApp({ partners: 0 });

  async function rows(clickId: string): Promise<Record<string, unknown>[]> {
    const ds = t.app.get(DataSource);
    const p = ds.options.type === 'postgres' ? '$1' : '?';
    return ds.query(
      `SELECT source, event_id, order_id, currency, page_url, user_agent, referrer FROM conversions WHERE click_id = ${p}`,
      [clickId],
    );
  }

  beforeAll(async () => {
    await t.app.listen(0, '127.0.0.1');
    appUrl = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    shop = await site(() => appUrl);
    evil = await site(() => appUrl);
    f = await makePartner(api, undefined, [shop.origin]);
    const { chromium } = await import('playwright-core');
    userDataDir = mkdtempSync(join(tmpdir(), 'thrad-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
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

  it('redirect → landing page → tag.js → thrad("conversion") → one row, which the server API then sees as duplicate; another origin cannot post', async () => {
    const p = await context.newPage();
    // 1. The ad click: the redirect records the click and lands on the advertiser's page.
    const landing = `${shop.origin}/landing?utm_source=thrad#top`;
    // A link with a bid id is signed by the ad server (LINK_SIGNING_SECRET; README "Keyless paths").
    const linkSig = t.app.get(LinkSigner).sign(f.tagId, 'bid_browser', landing);
    await p.goto(
      `${appUrl}/c?tag_id=${f.tagId}&bid_id=bid_browser&url=${encodeURIComponent(landing)}&sig=${encodeURIComponent(linkSig)}`,
    );
    const landed = new URL(p.url());
    expect(landed.origin).toBe(shop.origin);
    expect(landed.pathname).toBe('/landing');
    expect(landed.hash).toBe('#top');
    expect(landed.searchParams.get('utm_source')).toBe('thrad');
    const clickId = landed.searchParams.get('thrad_click_id')!;
    const sig = landed.searchParams.get('thrad_sig')!;
    const exp = landed.searchParams.get('thrad_exp')!;
    expect(clickId).toMatch(/^clk_/);
    await tagLoaded(p);

    // 2. The Tag kept the click first-party, expiring at exp.
    const stored = await p.evaluate(() =>
      (globalThis as unknown as { localStorage: { getItem(k: string): string | null } }).localStorage.getItem(
        'thrad_click',
      ),
    );
    expect(JSON.parse(stored!)).toEqual({ c: clickId, s: sig, e: Number(exp) });
    const cookie = (await context.cookies(shop.origin)).find((c) => c.name === 'thrad_click');
    expect(cookie?.expires).toBe(Number(exp));
    expect(await p.evaluate(() => (globalThis as unknown as TagWindow).thrad('click_id'))).toBe(clickId);

    // 3. Later, on another page of the site without the parameters, the conversion is sent.
    await p.goto(`${shop.origin}/checkout/done`);
    await tagLoaded(p);
    const responded = p.waitForResponse(
      (r) => r.url() === `${appUrl}/api/tag/conversion` && r.request().method() === 'POST',
    );
    const sent = await p.evaluate(() =>
      (globalThis as unknown as TagWindow).thrad('conversion', {
        conversion_value: 42.5,
        currency: 'eur',
        event_id: 'evt_browser_1',
        order_id: 'ord_browser_1',
        coupon: 'SPRING',
      }),
    );
    expect(sent).toBe(true);
    const res = await responded;
    expect(res.status()).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', conversion_id: expect.any(String) });
    const conversionId = (await res.json()).conversion_id;

    // 4. The row is in the database, marked as coming from the Tag, with the browser's context.
    const found = await rows(clickId);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({
      source: 'tag',
      event_id: 'evt_browser_1',
      order_id: 'ord_browser_1',
      currency: 'EUR',
      page_url: `${shop.origin}/checkout/done`,
    });
    expect(found[0].user_agent).toMatch(/Chrome/);

    // 5. The advertiser's backend reports the same conversion: duplicate, no second row; its values
    // replace the Tag's (issue 10: Tag vs server precedence).
    const server = await api.post(
      '/api/conversion',
      conversionBody(clickId, { event_id: 'evt_browser_1', order_id: 'ord_browser_1' }),
      f.partnerKey,
    );
    expect(server.status).toBe(200);
    expect(server.body).toEqual({
      status: 'duplicate',
      conversion_id: conversionId,
      matched_on: 'event_id',
      superseded: 'tag',
      ...SEED_TIME_WARNING,
    });
    expect(await rows(clickId)).toHaveLength(1);

    // 5b. A call made before the script loaded is replayed from the snippet's queue.
    const queuedResponse = p.waitForResponse(
      (r) => r.url() === `${appUrl}/api/tag/conversion` && r.request().method() === 'POST',
    );
    await p.goto(`${shop.origin}/queued`);
    expect((await queuedResponse).status()).toBe(200);
    expect((await rows(clickId)).map((r) => r.event_id).sort()).toEqual(['evt_browser_1', 'evt_queued']);

    // 6. A page on an origin the tag does not allow, holding the very same signed click, cannot post.
    const e = await context.newPage();
    const blocked: string[] = [];
    e.on('response', (r) => {
      if (r.url() === `${appUrl}/api/tag/conversion`)
        blocked.push(`${r.request().method()} ${r.request().headers()['content-type']} ${r.status()}`);
    });
    e.on('requestfailed', (r) => {
      if (r.url() === `${appUrl}/api/tag/conversion`) blocked.push(`${r.method()} failed`);
    });
    await e.goto(
      `${evil.origin}/landing?thrad_click_id=${encodeURIComponent(clickId)}&thrad_sig=${encodeURIComponent(sig)}&thrad_exp=${exp}`,
    );
    await tagLoaded(e);
    // The Tag tries fetch (refused by the CORS preflight), then sendBeacon (refused by the server).
    await e.evaluate(() =>
      (globalThis as unknown as TagWindow).thrad('conversion', {
        conversion_value: 1,
        currency: 'USD',
        event_id: 'evt_evil',
      }),
    );
    // And a direct cross-origin fetch fails in the browser.
    const direct = await e.evaluate(async (url) => {
      try {
        await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        return 'sent';
      } catch {
        return 'blocked';
      }
    }, `${appUrl}/api/tag/conversion`);
    expect(direct).toBe('blocked');
    for (let i = 0; i < 100 && blocked.length < 3; i++) await e.waitForTimeout(100);
    // The Tag's fetch and the direct fetch never got past the preflight; the beacon (a CORS
    // "simple" request, which the browser does send) was refused by the server.
    expect([...blocked].sort()).toEqual(['POST failed', 'POST failed', 'POST text/plain 403']);
    const after = await rows(clickId);
    expect(after.map((r) => r.event_id).sort()).toEqual(['evt_browser_1', 'evt_queued']);

    // 7. Where no click was captured, the Tag sends nothing and says so (and never throws).
    const bare = await context.newPage();
    const sentBare: string[] = [];
    bare.on('request', (r) => {
      if (r.url().startsWith(`${appUrl}/api/`)) sentBare.push(r.url());
    });
    await bare.goto(`http://localhost:${new URL(shop.origin).port}/nothing-here`);
    await tagLoaded(bare);
    expect(
      await bare.evaluate(() =>
        (globalThis as unknown as TagWindow).thrad('conversion', { conversion_value: 1, currency: 'USD' }),
      ),
    ).toBe(false);
    expect(await bare.evaluate(() => (globalThis as unknown as TagWindow).thrad('click_id'))).toBeNull();
    expect(
      await bare.evaluate(() => (globalThis as unknown as TagWindow).thrad('unknown-command', null as never)),
    ).toBe(false);
    expect(sentBare).toEqual([]);
  });
});

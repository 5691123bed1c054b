import { ApiClient, conversionBody } from './api-client';
import { createTestApp, TestApp } from './test-app';
import { ConfigError, loadConfig } from '../src/config/app-config';

const ORIGIN = 'https://shop.example.com';

/** Five Tag requests with a forged signature, each claiming another client address in X-Forwarded-For. */
async function spoofedBurst(api: ApiClient): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await api.post('/api/tag/conversion', conversionBody('clk_x', { sig: 'forged', exp: 1 }), undefined, {
      'x-forwarded-for': `203.0.113.${i + 1}`,
      origin: ORIGIN,
    });
    statuses.push(r.status);
  }
  return statuses;
}

describe('client address behind a proxy (e2e)', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('by default ignores X-Forwarded-For: changing the header does not get round the per-address limit', async () => {
    t = await createTestApp({ TAG_RATE_LIMIT_PER_ADDRESS: '3' });
    const api = new ApiClient(t.app);
    expect(await spoofedBurst(api)).toEqual([401, 401, 401, 429, 429]);
  });

  it('honours X-Forwarded-For from a trusted proxy (TRUST_PROXY=127.0.0.1): each client has its own budget', async () => {
    t = await createTestApp({ TAG_RATE_LIMIT_PER_ADDRESS: '3', TRUST_PROXY: '127.0.0.1' });
    const api = new ApiClient(t.app);
    expect(await spoofedBurst(api)).toEqual([401, 401, 401, 401, 401]);
    // The same client behind the proxy is still limited.
    const same = { 'x-forwarded-for': '198.51.100.9', origin: ORIGIN };
    const body = conversionBody('clk_x', { sig: 'forged', exp: 1 });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await api.post('/api/tag/conversion', body, undefined, same)).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
  });

  it('with a hop count, takes the address the last proxy saw, not one the client wrote in front of it', async () => {
    t = await createTestApp({ TAG_RATE_LIMIT_PER_ADDRESS: '3', TRUST_PROXY: '1' });
    const api = new ApiClient(t.app);
    const body = conversionBody('clk_x', { sig: 'forged', exp: 1 });
    const statuses: number[] = [];
    // The client forges a leftmost entry each time; the load balancer appends the real address.
    for (let i = 0; i < 4; i++) {
      const h = { 'x-forwarded-for': `10.0.0.${i}, 198.51.100.7`, origin: ORIGIN };
      statuses.push((await api.post('/api/tag/conversion', body, undefined, h)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
  });
});

describe('TRUST_PROXY configuration', () => {
  it('is off by default', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '0' }).trustProxy).toBe(false);
  });

  it('takes a hop count or a list of addresses, CIDR ranges and proxy-addr names', () => {
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: ' 10.0.0.0/8, 192.168.1.4 ,::1, fd00::/8,uniquelocal' }).trustProxy).toEqual([
      '10.0.0.0/8',
      '192.168.1.4',
      '::1',
      'fd00::/8',
      'uniquelocal',
    ]);
  });

  it.each(['true', 'yes', '10.0.0.0/33', '10.0.0', 'fd00::/129', '10.0.0.1,', '1.5', '-1', 'lb.example.com'])(
    'refuses %j at boot with a message naming the variable',
    (value) => {
      expect(() => loadConfig({ TRUST_PROXY: value })).toThrow(ConfigError);
      expect(() => loadConfig({ TRUST_PROXY: value })).toThrow(/^TRUST_PROXY must be/);
    },
  );
});

import { ApiClient, conversionBody, Fixture, makeClick, makePartner } from './api-client';
import { createTestApp, TestApp } from './test-app';

describe('POST /api/conversion (e2e)', () => {
  let t: TestApp;
  let api: ApiClient;
  let f: Fixture;

  beforeAll(async () => {
    t = await createTestApp();
    api = new ApiClient(t.app);
    f = await makePartner(api);
  });
  afterAll(() => t.close());

  it('answers the seed example with ok, then its retry with duplicate', async () => {
    const click = await makeClick(api, f);
    const body = conversionBody(click, { order_id: 'order_123', event_type: 'purchase_completed' });
    const first = await api.post('/api/conversion', body, f.partnerKey, { 'idempotency-key': 'order_123' });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ status: 'ok', conversion_id: expect.any(String) });
    const retry = await api.post('/api/conversion', body, f.partnerKey, { 'idempotency-key': 'order_123' });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual({ status: 'duplicate', conversion_id: first.body.conversion_id, matched_on: 'idempotency_key' });
  });
});

import { generateSecret, signedHeaders } from '../modules/webhooks/webhook-signature';
import { verifyWebhook } from './webhook-receiver';

describe("the example receiver's verification (README)", () => {
  const body = '{"type":"test","timestamp":"2026-05-26T12:00:00.000Z","data":null}';
  const now = () => Math.floor(Date.now() / 1000);

  it('accepts either signature of a rotation, refuses another secret, a changed body and a stale timestamp', () => {
    const [old, next] = [generateSecret(), generateSecret()];
    const h = signedHeaders([next, old], 'msg_1', now(), body);
    expect(verifyWebhook(old, h, body)).toEqual(JSON.parse(body));
    expect(verifyWebhook(next, h, body)).toEqual(JSON.parse(body));
    expect(() => verifyWebhook(generateSecret(), h, body)).toThrow('no signature matches');
    expect(() => verifyWebhook(next, h, body.replace('test', 'tesT'))).toThrow('no signature matches');
    expect(() => verifyWebhook(next, signedHeaders([next], 'msg_1', now() - 301, body), body)).toThrow('tolerance');
    expect(() => verifyWebhook(next, signedHeaders([next], 'msg_1', now() + 301, body), body)).toThrow('tolerance');
  });
});

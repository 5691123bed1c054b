import { Webhook } from 'standardwebhooks';
import { generateSecret, SecretBox, sign, signedHeaders } from './webhook-signature';

describe('Standard Webhooks signature', () => {
  // The vector of the reference libraries' own tests (standardwebhooks / svix).
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
  const ts = 1614265330;
  const body = '{"test": 2432232314}';

  it('matches the known vector', () => {
    expect(sign(secret, id, ts, body)).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('is verified by the official standardwebhooks package, with each of two secrets during a rotation', () => {
    const old = generateSecret();
    const next = generateSecret();
    expect(next).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const now = Math.floor(Date.now() / 1000);
    const headers = signedHeaders([next, old], id, now, body);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    for (const s of [next, old]) expect(new Webhook(s).verify(body, headers)).toEqual({ test: 2432232314 });
    // A third secret, a changed body or an old timestamp are refused.
    expect(() => new Webhook(generateSecret()).verify(body, headers)).toThrow();
    expect(() => new Webhook(next).verify(body.replace('2', '3'), headers)).toThrow();
    const stale = signedHeaders([next], id, now - 600, body);
    expect(() => new Webhook(next).verify(body, stale)).toThrow();
  });
});

describe('SecretBox', () => {
  it('round-trips, never stores the secret in the clear, and refuses another key or a changed ciphertext', () => {
    const box = new SecretBox('k'.repeat(40));
    const s = generateSecret();
    const sealed = box.seal(s);
    expect(sealed).not.toContain(s.slice(6, 20));
    expect(box.open(sealed)).toBe(s);
    expect(() => new SecretBox('x'.repeat(40)).open(sealed)).toThrow();
    const parts = sealed.split(':');
    parts[3] = Buffer.from('tampered').toString('base64url');
    expect(() => box.open(parts.join(':'))).toThrow();
  });
});

/*
 * A tiny webhook receiver for trying the service's webhooks (README "Webhooks"):
 *
 *   WEBHOOK_SECRET=whsec_… PORT=4000 npm run webhook-receiver
 *
 * It verifies each message as the Standard Webhooks specification says (HMAC-SHA256 over
 * `id.timestamp.body`, any of the space-separated `v1,` signatures, timestamp within 5 minutes),
 * answers 204 (401 when the signature does not verify), drops a repeated webhook-id (at least once
 * becomes exactly once) and prints one line per message. Without WEBHOOK_SECRET it prints without
 * verifying. Not part of the service.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const TOLERANCE_S = 5 * 60;

/** Verifies one message; answers its parsed body, or throws saying why not. */
export function verifyWebhook(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  body: string,
): unknown {
  const id = String(headers['webhook-id'] ?? '');
  const ts = String(headers['webhook-timestamp'] ?? '');
  const sigs = String(headers['webhook-signature'] ?? '').split(' ');
  if (!id || !/^\d+$/.test(ts)) throw new Error('missing webhook-id or webhook-timestamp');
  if (Math.abs(Date.now() / 1000 - Number(ts)) > TOLERANCE_S)
    throw new Error('timestamp outside the 5 minute tolerance');
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest();
  const ok = sigs.some((s) => {
    const [version, b64] = s.split(',');
    const got = Buffer.from(b64 ?? '', 'base64');
    return version === 'v1' && got.length === expected.length && timingSafeEqual(got, expected);
  });
  if (!ok) throw new Error('no signature matches');
  return JSON.parse(body);
}

function main(): void {
  const secret = process.env.WEBHOOK_SECRET || undefined;
  const port = Number(process.env.PORT || 4000);
  const seen = new Set<string>();
  createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const id = String(req.headers['webhook-id'] ?? '');
      let msg: { type?: string; data?: { id?: string; conversion_value?: unknown; currency?: string } };
      try {
        msg = (secret ? verifyWebhook(secret, req.headers, body) : JSON.parse(body)) as typeof msg;
      } catch (e) {
        console.log(`refused ${id || '(no id)'}: ${(e as Error).message}`);
        res.writeHead(401).end();
        return;
      }
      const repeat = seen.has(id);
      seen.add(id);
      console.log(
        `${repeat ? 'repeat  ' : 'received'} ${id} ${msg.type} conversion ${msg.data?.id} ${msg.data?.conversion_value} ${msg.data?.currency}${secret ? ' (verified)' : ''}`,
      );
      res.writeHead(204).end();
    });
  }).listen(port, '127.0.0.1', () => console.log(`webhook receiver on http://127.0.0.1:${port}/`));
}

if (require.main === module) main();

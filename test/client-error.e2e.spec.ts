import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { useTestApp } from './test-app';

/** What a raw request got back before the connection ended: the bytes, and how it ended. */
async function rawExchange(port: number, request: string): Promise<{ answer: string; error: string | null }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | null = null;
    const s = connect(port, '127.0.0.1', () => s.end(request));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () => resolve({ answer: Buffer.concat(chunks).toString('latin1'), error }));
  });
}

/**
 * Requests Node's HTTP parser refuses before any route runs (a head over the 16 KiB header limit,
 * a malformed request line). A stranger sends them; the answer must still arrive, in the contract's
 * shape, rather than the connection being reset under it.
 */
describe('requests refused by the HTTP parser', () => {
  const { t } = useTestApp();
  let port = 0;

  beforeAll(async () => {
    await t.app.listen(0, '127.0.0.1');
    port = (t.app.getHttpServer().address() as AddressInfo).port;
  });

  it('answer a head over the header limit with a 431 that arrives, even while the rest of the head is still being sent', async () => {
    // 256 KiB of head: most of it is still unread when the parser gives up at 16 KiB (closing a
    // socket with unread input resets it, which can destroy the answer already sent; the bench's
    // adversarial step saw such drops now and then). Several times, since that is a race.
    const request = `GET /health?q=${'1.'.repeat(128 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`;
    for (let i = 0; i < 10; i++) {
      const { answer, error } = await rawExchange(port, request);
      expect({ i, error, head: answer.split('\r\n')[0] }).toEqual({
        i,
        error: null,
        head: 'HTTP/1.1 431 Request Header Fields Too Large',
      });
      expect(answer).toMatch(/\r\nconnection: close\r\n/i);
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({
        detail: 'Request Header Fields Too Large',
      });
    }
  });

  it('answer a malformed request with a 400 in the contract shape', async () => {
    const { answer, error } = await rawExchange(port, 'GET / HTTP/1.1\r\nHost x\r\n\r\n');
    expect(error).toBeNull();
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({ detail: 'Bad Request' });
  });
});

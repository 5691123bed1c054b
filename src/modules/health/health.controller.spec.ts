import { HealthController } from './health.controller';

function fakeReply() {
  const sent: { status?: number; body?: unknown; headers: Record<string, string> } = { headers: {} };
  const reply = {
    status(code: number) {
      sent.status = code;
      return reply;
    },
    header(k: string, v: string) {
      sent.headers[k] = v;
      return reply;
    },
    send(body: unknown) {
      sent.body = body;
      return reply;
    },
  };
  return { reply, sent };
}

describe('HealthController', () => {
  it('answers 200 {"status":"ok"} when the database answers', async () => {
    const ds = { query: jest.fn().mockResolvedValue([{ '?column?': 1 }]) };
    const { reply, sent } = fakeReply();
    await new HealthController(ds as never).getHealth(reply as never);
    expect(ds.query).toHaveBeenCalledWith('SELECT 1');
    expect(sent).toEqual({ status: 200, body: { status: 'ok' }, headers: {} });
  });

  it('answers 503 when the database fails', async () => {
    const ds = { query: jest.fn().mockRejectedValue(new Error('ECONNREFUSED')) };
    const { reply, sent } = fakeReply();
    await new HealthController(ds as never).getHealth(reply as never);
    expect(sent.status).toBe(503);
    expect(sent.body).toEqual({ status: 'unavailable', detail: 'database unreachable' });
    expect(sent.headers['Retry-After']).toBe('5');
  });
});

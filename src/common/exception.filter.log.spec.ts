import { ArgumentsHost, Logger } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import { AppExceptionFilter } from './exception.filter';

describe('AppExceptionFilter log lines', () => {
  afterEach(() => jest.restoreAllMocks());

  function hostFor(request: object): ArgumentsHost {
    const reply = { header: jest.fn() };
    return {
      switchToHttp: () => ({ getRequest: () => request, getResponse: () => reply }),
    } as unknown as ArgumentsHost;
  }

  it('logs an unhandled error with the path, never the query string (it may carry a signature)', () => {
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const adapter = { httpAdapter: { reply: jest.fn() } } as unknown as HttpAdapterHost;
    const request = { id: 'req-1', method: 'GET', url: '/api/tag/conversion?sig=SECRETSIG&exp=1&click_id=c1' };
    new AppExceptionFilter(adapter).catch(new Error('boom'), hostFor(request));
    expect(adapter.httpAdapter.reply).toHaveBeenCalledWith(expect.anything(), { detail: 'Internal Server Error' }, 500);
    expect(error).toHaveBeenCalledTimes(1);
    const line = String(error.mock.calls[0][0]);
    expect(line).toMatch(/^Unhandled error on GET \/api\/tag\/conversion \(request req-1\): Error: boom/);
    expect(line).not.toContain('SECRETSIG');
    expect(line).not.toContain('?');
  });
});

import { HttpException, NotFoundException, PayloadTooLargeException } from '@nestjs/common';
import { AppError } from './errors';
import { toResponse } from './exception.filter';

describe('toResponse (error mapping)', () => {
  it('maps domain codes to the seed statuses and bodies', () => {
    expect(toResponse(new AppError('click_not_found', 'Click not found'))).toEqual({
      status: 404,
      body: { detail: 'Click not found' },
      headers: {},
    });
    expect(toResponse(new AppError('click_missing_bid', 'Click missing bid id'))).toMatchObject({
      status: 400,
      body: { detail: 'Click missing bid id' },
    });
    expect(toResponse(new AppError('invalid_api_key', 'Invalid API key', { 'WWW-Authenticate': 'Bearer' }))).toEqual({
      status: 401,
      body: { detail: 'Invalid API key' },
      headers: { 'WWW-Authenticate': 'Bearer' },
    });
    const issues = [{ type: 'missing', loc: ['body', 'x'], msg: 'Field required', input: {} }];
    expect(toResponse(AppError.validation(issues))).toEqual({ status: 422, body: { detail: issues }, headers: {} });
  });

  it('maps framework HTTP errors to {detail}', () => {
    expect(toResponse(new NotFoundException('Cannot GET /nope'))).toMatchObject({
      status: 404,
      body: { detail: 'Not Found' },
    });
    expect(toResponse(new PayloadTooLargeException('Request body is too large'))).toMatchObject({
      status: 413,
      body: { detail: 'Request body is too large' },
    });
    expect(toResponse(new HttpException('Unsupported Media Type', 415))).toMatchObject({ status: 415 });
  });

  it('answers unknown errors with a plain 500 that leaks nothing', () => {
    expect(toResponse(new Error('password=hunter2 at db'))).toEqual({
      status: 500,
      body: { detail: 'Internal Server Error' },
      headers: {},
    });
  });
});

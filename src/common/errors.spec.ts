import { QueryFailedError } from 'typeorm';
import { databaseUnavailable } from './db-errors';
import { AppError, ErrorCode, ERRORS } from './errors';
import { errorKind, toResponse } from './exception.filter';

describe('the error catalogue', () => {
  it.each(Object.keys(ERRORS) as ErrorCode[])('%s is answered with its own status, detail and headers', (code) => {
    const entry = ERRORS[code];
    expect(entry.status).toBeGreaterThanOrEqual(400);
    expect(entry.detail).toMatch(/\S/);
    if (code === 'validation') return;
    expect(toResponse(new AppError(code))).toEqual({
      status: entry.status,
      body: { detail: entry.detail },
      headers: 'headers' in entry ? entry.headers : {},
    });
  });

  it('every 401 carries WWW-Authenticate: Bearer, except the signed click (no key is involved)', () => {
    const unauthorised = (Object.keys(ERRORS) as ErrorCode[]).filter((c) => ERRORS[c].status === 401);
    expect(unauthorised.sort()).toEqual([
      'click_signature_expired',
      'invalid_api_key',
      'invalid_click_signature',
      'missing_token',
    ]);
    expect(new AppError('missing_token').headers).toEqual({ 'WWW-Authenticate': 'Bearer' });
    expect(new AppError('invalid_api_key').headers).toEqual({ 'WWW-Authenticate': 'Bearer' });
  });

  it('has one retryable 503: a lost write race and a database outage answer alike', () => {
    const outage = toResponse(new QueryFailedError('SELECT 1', [], Object.assign(new Error('x'), { code: '57014' })));
    expect(toResponse(new AppError('unavailable'))).toEqual(outage);
    expect(toResponse(databaseUnavailable())).toEqual(outage);
    expect(outage).toEqual({
      status: 503,
      body: { detail: 'Service temporarily unavailable, retry later' },
      headers: { 'Retry-After': '2' },
    });
  });

  it("does not share the catalogue's headers with a thrown error (a door may add its own)", () => {
    const e = new AppError('click_origin_not_allowed');
    e.headers['Access-Control-Allow-Origin'] = 'https://a.example';
    expect(new AppError('click_origin_not_allowed').headers).toEqual({ Vary: 'Origin' });
  });

  it('keeps the metric label of a code split out of a broader one', () => {
    expect(errorKind(new AppError('click_signature_expired'))).toBe('invalid_click_signature');
    expect(errorKind(new AppError('click_origin_not_allowed'))).toBe('forbidden');
    expect(errorKind(new AppError('click_not_found'))).toBe('click_not_found');
  });

  it('takes a detail override where the text varies (a validation list, a limiter window)', () => {
    const issues = [{ type: 'missing', loc: ['body', 'x'], msg: 'Field required', input: {} }];
    expect(toResponse(AppError.validation(issues))).toEqual({ status: 422, body: { detail: issues }, headers: {} });
    expect(toResponse(new AppError('rate_limited', undefined, { 'Retry-After': '7' }))).toEqual({
      status: 429,
      body: { detail: 'Too many requests' },
      headers: { 'Retry-After': '7' },
    });
  });
});

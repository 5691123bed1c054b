import { QueryFailedError } from 'typeorm';
import { isDatabaseUnavailable } from './db-errors';
import { toResponse } from './exception.filter';

function pgError(code: string, message = 'x'): Error {
  return Object.assign(new Error(message), { code, severity: 'ERROR' });
}

describe('isDatabaseUnavailable', () => {
  it.each([
    [
      'statement timeout',
      new QueryFailedError('SELECT 1', [], pgError('57014', 'canceling statement due to statement timeout')),
    ],
    [
      'terminated backend',
      new QueryFailedError('SELECT 1', [], pgError('57P01', 'terminating connection due to administrator command')),
    ],
    ['too many connections', pgError('53300')],
    ['connection exception class', pgError('08006')],
    ['refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    [
      'refused, aggregated',
      Object.assign(new AggregateError([Object.assign(new Error('a'), { code: 'ECONNREFUSED' })], ''), {}),
    ],
    ['pool wait timeout', new Error('timeout exceeded when trying to connect')],
    ['lost connection', new Error('Connection terminated unexpectedly')],
    ['client read timeout', new Error('Query read timeout')],
    ['db not accepting', pgError('55000', 'database "x" is not currently accepting connections')],
    ['sqlite busy', Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })],
  ])('%s is transient', (_, e) => {
    expect(isDatabaseUnavailable(e)).toBe(true);
  });

  it.each([
    ['unique violation', new QueryFailedError('INSERT', [], pgError('23505', 'duplicate key'))],
    ['syntax error', new QueryFailedError('SELEC', [], pgError('42601'))],
    ['a bug', new TypeError('x is undefined')],
    ['not an error', 'boom'],
    ['null', null],
  ])('%s is not', (_, e) => {
    expect(isDatabaseUnavailable(e)).toBe(false);
  });

  it('is answered 503 {"detail"} with Retry-After by the exception filter, never 500', () => {
    const r = toResponse(new QueryFailedError('SELECT 1', [], pgError('57014')));
    expect(r).toEqual({
      status: 503,
      body: { detail: 'Service temporarily unavailable, retry later' },
      headers: { 'Retry-After': '2' },
    });
    expect(toResponse(new TypeError('x')).status).toBe(500);
  });
});

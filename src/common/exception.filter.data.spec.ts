import { QueryFailedError } from 'typeorm';
import { errorKind, isDataException, toResponse } from './exception.filter';

describe('PostgreSQL data exceptions (SQLSTATE class 22) are a 422, never a 500 (issue 10)', () => {
  const pgError = (code: string) =>
    new QueryFailedError('INSERT …', [], Object.assign(new Error('invalid byte sequence'), { code }));

  it.each(['22P05', '22021', '22008', '22003', '22P02'])('%s answers 422 with a detail', (code) => {
    const r = toResponse(pgError(code));
    expect(r.status).toBe(422);
    expect(r.body.detail).toEqual([
      expect.objectContaining({ type: 'value_error', msg: 'Value error, a value of the request cannot be stored' }),
    ]);
    expect(JSON.stringify(r.body)).not.toContain('invalid byte sequence');
    expect(errorKind(pgError(code))).toBe('validation');
  });

  it('other database errors are not data exceptions', () => {
    expect(isDataException(pgError('23505'))).toBe(false);
    expect(isDataException(new Error('22P05'))).toBe(false);
    expect(toResponse(pgError('42P01')).status).toBe(500);
  });
});

import type { DataSource } from 'typeorm';
import { Dialect, Param, PgParams, prepareNamed, sqliteParams } from './dialect';

const ds = (type: string, driver: object = {}) => ({ options: { type }, driver }) as unknown as DataSource;

interface Row {
  id: string;
  at: Date;
  doc: object;
}
const PARAMS: Param<Row>[] = [
  { name: 'id', pgType: 'varchar', value: (r) => r.id },
  { name: 'at', pgType: 'timestamptz', value: (r) => r.at },
  { name: 'doc', pgType: 'json', value: (r) => r.doc },
];
const rows: Row[] = [
  { id: 'a', at: new Date('2026-05-26T12:34:56.789Z'), doc: { x: 1 } },
  { id: 'b', at: new Date('2026-05-27T00:00:00.000Z'), doc: { y: [2] } },
];

describe('Dialect', () => {
  it('generates one-row references and unnest arrays from a parameter list, with values in the same order', () => {
    const p = new PgParams(new Dialect(ds('postgres')), PARAMS);
    expect(p.ref('at')).toBe('$2::timestamptz');
    expect(p.unnest('i')).toBe(
      'unnest($1::varchar[], $2::timestamptz[], $3::json[]) WITH ORDINALITY AS i(id, at, doc, ord)',
    );
    expect(p.values(rows[0])).toEqual(['a', '2026-05-26T12:34:56.789Z', '{"x":1}']);
    expect(p.arrays(rows)).toEqual([
      ['a', 'b'],
      ['2026-05-26T12:34:56.789Z', '2026-05-27T00:00:00.000Z'],
      ['{"x":1}', '{"y":[2]}'],
    ]);
    expect(() => p.ref('nope')).toThrow('no parameter nope');
    expect(() => new PgParams(new Dialect(ds('postgres')), [...PARAMS, PARAMS[0]])).toThrow('listed twice');
  });

  it('gives SQLite named parameters from the same list, times as TypeORM stores them', () => {
    expect(sqliteParams(new Dialect(ds('better-sqlite3')), PARAMS, rows[0])).toEqual({
      id: 'a',
      at: '2026-05-26 12:34:56.789',
      doc: '{"x":1}',
    });
  });

  it('writes time parameters and the keyset condition per driver', () => {
    const after = { at: new Date('2026-05-26T12:34:56.789Z'), id: 'id-1' };
    expect(new Dialect(ds('postgres')).keysetBefore('c.t', 'c.id', after)).toEqual({
      where: '(c.t, c.id) < (CAST(:after_t AS timestamptz), :after_id)',
      params: { after_t: '2026-05-26T12:34:56.789Z', after_id: 'id-1' },
    });
    expect(new Dialect(ds('better-sqlite3')).keysetBefore('c.t', 'c.id', after)).toEqual({
      where: '(c.t, c.id) < (:after_t, :after_id)',
      params: { after_t: '2026-05-26 12:34:56.789', after_id: 'id-1' },
    });
  });

  it('hands out the driver handles, and says so when there is none', () => {
    const pool = { query: jest.fn() };
    expect(new Dialect(ds('postgres', { master: pool })).pgPool()).toBe(pool);
    expect(new Dialect(ds('better-sqlite3', { master: pool })).pgPoolIfAny()).toBeUndefined();
    expect(() => new Dialect(ds('postgres')).pgPool()).toThrow('no PostgreSQL pool');
    expect(() => new Dialect(ds('better-sqlite3')).sqlite()).toThrow('no SQLite handle');
  });

  it('binds @name statements positionally, a name used twice bound twice, a missing one refused', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const db = new (require('better-sqlite3'))(':memory:');
    const s = prepareNamed(db, 'SELECT @b AS b, @a AS a, @b || @a AS ba');
    expect(s.get({ a: 'x', b: 'y', unused: 1 })).toEqual({ b: 'y', a: 'x', ba: 'yx' });
    expect(() => s.get({ a: 'x' })).toThrow('Missing named parameter "b"');
    db.close();
  });
});

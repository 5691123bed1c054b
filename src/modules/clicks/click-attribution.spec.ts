import { DataSource } from 'typeorm';
import { AppError } from '../../common/errors';
import type { DataMode } from '../../common/data-mode';
import { loadConfig } from '../../config/app-config';
import {
  AttributionFailure,
  attributableSql,
  attributionFailure,
  ClickColumn,
  ClickFacts,
  clickFactsOf,
  clickFactsSql,
} from './click-attribution';
import { ClicksService } from './clicks.service';

/*
 * When a click is attributable is written once (click-attribution.ts). The write statements decide
 * in SQL, the service answers from JavaScript: this holds the SQL's verdict, on the real database
 * engines (TEST_DATABASE_URL for PostgreSQL, else SQLite), to the rule, for every kind of click.
 */
const CALLER = 'partner-1';
type Click = { partner_id: string; bid_id: string | null; mode?: DataMode } | null;
const CASES: [string, Click, DataMode, AttributionFailure | null][] = [
  ['no such click', null, 'live', 'click_not_found'],
  ["another partner's click", { partner_id: 'partner-2', bid_id: 'bid-1' }, 'live', 'click_not_found'],
  ["another partner's click without a bid", { partner_id: 'partner-2', bid_id: null }, 'live', 'click_not_found'],
  ["the caller's click without a bid", { partner_id: CALLER, bid_id: null }, 'live', 'click_missing_bid'],
  ["the caller's click with a bid", { partner_id: CALLER, bid_id: 'bid-1' }, 'live', null],
  // The sandbox: a test key's conversion is attributable to test clicks only, a live key's to live ones only.
  [
    "the caller's test click, a live key",
    { partner_id: CALLER, bid_id: 'bid-1', mode: 'test' },
    'live',
    'click_not_found',
  ],
  ["the caller's live click, a test key", { partner_id: CALLER, bid_id: 'bid-1' }, 'test', 'click_not_found'],
  [
    "the caller's test click without a bid, a live key",
    { partner_id: CALLER, bid_id: null, mode: 'test' },
    'live',
    'click_not_found',
  ],
  [
    "the caller's test click without a bid, a test key",
    { partner_id: CALLER, bid_id: null, mode: 'test' },
    'test',
    'click_missing_bid',
  ],
  [
    "another partner's test click, a test key",
    { partner_id: 'partner-2', bid_id: 'bid-1', mode: 'test' },
    'test',
    'click_not_found',
  ],
  ["the caller's test click, a test key", { partner_id: CALLER, bid_id: 'bid-1', mode: 'test' }, 'test', null],
];

describe('when a click is attributable: the SQL fragment and the JavaScript verdict agree', () => {
  const url = process.env.TEST_DATABASE_URL || undefined;
  const pg = !!url;
  let ds: DataSource;

  beforeAll(async () => {
    ds = new DataSource(pg ? { type: 'postgres', url } : { type: 'better-sqlite3', database: ':memory:' });
    await ds.initialize();
  });
  afterAll(() => ds.destroy());

  /** Evaluates the fragments on one click (NULL columns, as a LEFT JOIN gives them, when there is none). */
  async function sqlVerdict(click: Click, mode: DataMode): Promise<{ facts: ClickFacts; attributable: boolean }> {
    const values: unknown[] = [];
    const p = (v: unknown) => (values.push(v), pg ? `CAST($${values.length} AS varchar)` : 'CAST(? AS TEXT)');
    const c: ClickColumn = (n) => `c.${n}`;
    // Parameters are numbered in the order the template literal evaluates them, which is their order in the text.
    const sql = `SELECT ${clickFactsSql(c)}, ${attributableSql(c, p(CALLER), p(mode))} AS attributable
       FROM (SELECT 1 AS one) o
       LEFT JOIN (SELECT ${p(click ? 'clk-1' : null)} AS click_id, ${p(click?.partner_id ?? null)} AS partner_id,
                         ${p(click ? 'tag-1' : null)} AS tag_id, ${p(click?.bid_id ?? null)} AS bid_id,
                         ${pg ? 'CAST(NULL AS timestamptz)' : 'NULL'} AS clicked_at,
                         ${p(click ? (click.mode ?? 'live') : null)} AS mode) c
         ON c.click_id IS NOT NULL`;
    const [row] = (await ds.query(sql, values)) as Record<string, unknown>[];
    const attributable = row.attributable;
    expect(attributable === null || attributable === undefined).toBe(false); // never NULL
    return { facts: clickFactsOf(row), attributable: !!attributable };
  }

  it.each(CASES)('%s', async (_name, click, mode, failure) => {
    const { facts, attributable } = await sqlVerdict(click, mode);
    expect(facts).toEqual({
      found: !!click,
      partner_id: click?.partner_id ?? null,
      has_bid: click?.bid_id != null,
      clicked_at: null,
      mode: click ? (click.mode ?? 'live') : null,
    });
    expect(attributionFailure(facts, CALLER, mode)).toBe(failure);
    expect(attributable).toBe(failure === null);
  });

  it('answers each failure with its contract error (404 before 400)', () => {
    const clicks = new ClicksService({} as never, {} as never, {} as never, {} as never, loadConfig({}));
    for (const [, click, mode, failure] of CASES) {
      const facts: ClickFacts = {
        found: !!click,
        partner_id: click?.partner_id ?? null,
        has_bid: click?.bid_id != null,
        mode: click ? (click.mode ?? 'live') : null,
      };
      let thrown: unknown = null;
      try {
        clicks.assertAttributable(facts, CALLER, mode);
      } catch (e) {
        thrown = e;
      }
      if (failure === null) expect(thrown).toBeNull();
      else {
        expect(thrown).toBeInstanceOf(AppError);
        expect((thrown as AppError).code).toBe(failure);
        expect((thrown as AppError).detail).toBe(
          failure === 'click_not_found' ? 'Click not found' : 'Click missing bid id',
        );
      }
    }
  });
});

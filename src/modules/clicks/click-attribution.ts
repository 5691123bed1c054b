/*
 * When a click is attributable to a conversion: the rule, written once. The conversion write
 * decides in SQL (inside its one statement), the service answers the caller's error from the same
 * rule in JavaScript; both are generated from the checks below, in order, and
 * click-attribution.spec.ts holds the SQL's verdict to the JavaScript one on both drivers.
 */

import type { DataMode } from '../../common/data-mode';
import { fromDbTime } from '../../database/column-types';

/** What the conversion path learnt about a click, seen through the caller's partner. */
export interface ClickFacts {
  found: boolean;
  partner_id: string | null;
  has_bid: boolean;
  /** When the click happened (null when there is no such click): the attribution-time checks read it. */
  clicked_at?: Date | null;
  /** `test` for a synthetic click (null when there is no such click). */
  mode?: DataMode | null;
}

/** Why a click cannot be attributed: the error code the caller is answered with. */
export type AttributionFailure = 'click_not_found' | 'click_missing_bid';

interface AttributionCheck {
  /** Answered when this check fails (and every one before it held). */
  failure: AttributionFailure;
  /** The check in SQL, on the click's columns (NULL when there is no such click), the caller's partner and mode. */
  sql(c: ClickColumn, partnerId: string, mode: string): string;
  /** The same check on what the statement answered about the click. */
  holds(facts: ClickFacts, partnerId: string, mode: DataMode): boolean;
}

const CHECKS: readonly AttributionCheck[] = [
  { failure: 'click_not_found', sql: (c) => `${c('click_id')} IS NOT NULL`, holds: (f) => f.found },
  // Another partner's click is answered as a missing one: never reveal that it exists.
  {
    failure: 'click_not_found',
    sql: (c, p) => `${c('partner_id')} = ${p}`,
    holds: (f, p) => f.partner_id === p,
  },
  // The sandbox: a test key's conversion is attributable to test clicks only, a live one to live
  // clicks only; the other mode's click is answered as a missing one.
  { failure: 'click_not_found', sql: (c, _p, m) => `${c('mode')} = ${m}`, holds: (f, _p, m) => f.mode === m },
  { failure: 'click_missing_bid', sql: (c) => `${c('bid_id')} IS NOT NULL`, holds: (f) => f.has_bid },
];

/** The click columns the rule and the conversion row read. */
export const ATTRIBUTION_CLICK_COLUMNS = ['click_id', 'partner_id', 'tag_id', 'bid_id', 'clicked_at', 'mode'] as const;

/** Names a click column in the statement at hand (`(n) => \`c.${n}\``). */
export type ClickColumn = (name: (typeof ATTRIBUTION_CLICK_COLUMNS)[number]) => string;

/** The click's columns, read by its id (an SQL expression); no row when there is no such click. */
export function clickLookupSql(clickId: string): string {
  return `SELECT ${ATTRIBUTION_CLICK_COLUMNS.join(', ')} FROM clicks WHERE clicks.click_id = ${clickId}`;
}

/**
 * SQL: true when the click whose columns `c` names (NULL columns when there is no such click, as
 * from a LEFT JOIN) is attributable to the partner `partnerId` writing data of `mode` (SQL
 * expressions); never NULL.
 */
export function attributableSql(c: ClickColumn, partnerId: string, mode: string): string {
  return `COALESCE(${CHECKS.map((k) => `(${k.sql(c, partnerId, mode)})`).join(' AND ')}, false)`;
}

/** SQL select-list items: the facts of the click whose columns `c` names, as ClickFacts names them. */
export function clickFactsSql(c: ClickColumn): string {
  return `${c('click_id')} IS NOT NULL AS found, ${c('partner_id')} AS partner_id, ${c('bid_id')} IS NOT NULL AS has_bid, ${c('clicked_at')} AS clicked_at, ${c('mode')} AS mode`;
}

/** ClickFacts from a row selected with `clickFactsSql` (booleans may come back as 0/1 on SQLite). */
export function clickFactsOf(r: Record<string, unknown>): ClickFacts {
  return {
    found: !!r.found,
    partner_id: (r.partner_id as string | null) ?? null,
    has_bid: !!r.has_bid,
    clicked_at: fromDbTime(r.clicked_at),
    mode: (r.mode as DataMode | null) ?? null,
  };
}

/** JavaScript: why the click cannot be attributed to `partnerId` writing `mode` data, or null when it can. */
export function attributionFailure(facts: ClickFacts, partnerId: string, mode: DataMode): AttributionFailure | null {
  for (const k of CHECKS) if (!k.holds(facts, partnerId, mode)) return k.failure;
  return null;
}

export function isAttributable(facts: ClickFacts, partnerId: string, mode: DataMode): boolean {
  return attributionFailure(facts, partnerId, mode) === null;
}

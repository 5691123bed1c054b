import type { Param } from '../../database/dialect';

/*
 * How a dedup key is claimed, in SQL: Dedup's part of the conversion's one write statement. The
 * conversions repository composes these fragments with the click check and the row insert; only
 * here is it known what a claim is (a `dedup_claims` row on (dedup_key, click_id, event_type)),
 * how it is taken (`INSERT … ON CONFLICT DO NOTHING`, in key order) and how long it holds (the
 * window rule below).
 */

/** Which layer of the request the dedup key came from. */
export type DedupLayer = 'idempotency_key' | 'event_id' | 'order_id';

/**
 * The SQL expressions a claim is made of, in the statement that claims it: the key, the click and
 * event type it is unique with, the conversion it points to, when it is claimed and the start of
 * the window (epoch ms; a claim made at or before it has left the window).
 */
export interface ClaimExprs {
  key: string;
  click: string;
  event: string;
  conversionId: string;
  claimedAt: string;
  windowStart: string;
}

/** What a claim needs beyond the conversion's own columns (dedup_key, click_id, event_type, id). */
export interface ClaimTiming {
  claimedAtMs: number;
  windowStartMs: number;
}

/** The parameters that carry ClaimTiming into a statement, named as the fragments below expect them. */
export const CLAIM_TIMING_PARAMS: readonly Param<ClaimTiming>[] = [
  { name: 'claimed_at', pgType: 'bigint', value: (t) => t.claimedAtMs },
  { name: 'window_start', pgType: 'bigint', value: (t) => t.windowStartMs },
];

/* The window rule: a claim holds while claimed_at > window start (its age is less than the window). */

/** SQL: the claim whose `claimed_at` is this column still holds. */
export const withinWindowSql = (claimedAt: string, windowStart: string) => `${claimedAt} > ${windowStart}`;
/** SQL: the claim has left the window, and may be taken over. */
export const pastWindowSql = (claimedAt: string, windowStart: string) => `${claimedAt} <= ${windowStart}`;
/** JavaScript: the same rule, on a claim read back (bigint may come back as text). */
export const isWithinWindow = (claimedAt: number | string, windowStartMs: number) => Number(claimedAt) > windowStartMs;

const KEY_COLUMNS = '(dedup_key, click_id, event_type)';
const sameKey = (h: string, e: ClaimExprs) =>
  `${h}dedup_key = ${e.key} AND ${h}click_id = ${e.click} AND ${h}event_type = ${e.event}`;

/**
 * PostgreSQL: claims the keys of the rows of `from` that pass `where` and have a key. A free key is
 * claimed; a key already claimed is left alone, without a row lock or a write (so retries and a
 * crowd on one key do not queue behind each other's commits). Rows of many conversions are
 * claimed in key order (`tieBreak` orders the rows of one key), so two statements that share keys
 * take them in the same order and cannot deadlock. Returns the conversion ids of the claims it made.
 */
export function pgClaimInsert(e: ClaimExprs, from: string, where: string, tieBreak?: string): string {
  const order = tieBreak ? `\n  ORDER BY ${e.key}, ${e.click}, ${e.event}, ${tieBreak}` : '';
  return `INSERT INTO dedup_claims (dedup_key, click_id, event_type, conversion_id, claimed_at)
  SELECT ${e.key}, ${e.click}, ${e.event}, ${e.conversionId}, ${e.claimedAt} FROM ${from}
  WHERE (${where}) AND ${e.key} IS NOT NULL${order}
  ON CONFLICT ${KEY_COLUMNS} DO NOTHING
  RETURNING conversion_id`;
}

/** PostgreSQL: a scalar subquery, the conversion id of the claim held inside the window (as of the snapshot). */
export function pgHeldId(e: ClaimExprs): string {
  return `(SELECT h.conversion_id FROM dedup_claims h
        WHERE ${e.key} IS NOT NULL AND ${sameKey('h.', e)} AND ${withinWindowSql('h.claimed_at', e.windowStart)})`;
}

/**
 * PostgreSQL, the full decision (the rare cases: a claim to take over, a race with a concurrent
 * first claim): CTEs `claim`, `held`, `takeover` and `won` (the claim this conversion now holds,
 * if any), for the conversion whose attributable click is the relation `a` (no row: not attributable).
 * Only a claim that has left the window is taken over, by an UPDATE that re-checks `claimed_at`
 * under the row lock, so exactly one of several concurrent takeovers wins. `held` reads the claim
 * as of the statement's snapshot, which may predate a claim committed by a concurrent request the
 * insert waited for: then no claim can be named (see `pgClaimedId`) and the statement, which wrote
 * nothing, is to be run again.
 */
export function pgClaimCtes(e: ClaimExprs, a: string): string {
  return `claim AS (
  ${pgClaimInsert(e, a, 'true')}
), held AS (
  SELECT conversion_id, claimed_at FROM dedup_claims WHERE ${e.key} IS NOT NULL AND ${sameKey('', e)}
), takeover AS (
  UPDATE dedup_claims SET conversion_id = ${e.conversionId}, claimed_at = ${e.claimedAt}
  WHERE ${sameKey('', e)} AND ${pastWindowSql('claimed_at', e.windowStart)}
    AND EXISTS (SELECT 1 FROM ${a}) AND EXISTS (SELECT 1 FROM held WHERE ${pastWindowSql('held.claimed_at', e.windowStart)})
  RETURNING conversion_id
), won AS (
  SELECT conversion_id FROM claim UNION ALL SELECT conversion_id FROM takeover
)`;
}

/** PostgreSQL, with `pgClaimCtes`: true when the conversion won the claim. */
export const pgClaimWon = (e: ClaimExprs) => `EXISTS (SELECT 1 FROM won WHERE won.conversion_id = ${e.conversionId})`;

/** PostgreSQL, with `pgClaimCtes`: the id the claim now points to (ours or the one held), or NULL. */
export const pgClaimedId = (e: ClaimExprs) =>
  `COALESCE((SELECT conversion_id FROM won), (SELECT conversion_id FROM held WHERE ${withinWindowSql('held.claimed_at', e.windowStart)}))`;

/** SQLite: the claim on a key, with when it was made (to be read with `isWithinWindow`). */
export function sqliteHeld(e: ClaimExprs): string {
  return `SELECT conversion_id, claimed_at FROM dedup_claims WHERE ${sameKey('', e)}`;
}

/**
 * SQLite (inside the BEGIN IMMEDIATE transaction, so no race within the statement): claims a free
 * key or takes over one that has left the window; returns the id the claim now points to.
 */
export function sqliteClaim(e: ClaimExprs): string {
  const past = pastWindowSql('claimed_at', e.windowStart);
  return `INSERT INTO dedup_claims (dedup_key, click_id, event_type, conversion_id, claimed_at)
  VALUES (${e.key}, ${e.click}, ${e.event}, ${e.conversionId}, ${e.claimedAt})
  ON CONFLICT ${KEY_COLUMNS} DO UPDATE SET
    conversion_id = CASE WHEN ${past} THEN excluded.conversion_id ELSE conversion_id END,
    claimed_at = CASE WHEN ${past} THEN excluded.claimed_at ELSE claimed_at END
  RETURNING conversion_id`;
}

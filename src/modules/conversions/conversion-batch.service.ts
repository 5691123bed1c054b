import type { DataMode } from '../../common/data-mode';
import { Injectable, Logger, Optional } from '@nestjs/common';
import { databaseUnavailable } from '../../common/db-errors';
import { AppError, ValidationIssue } from '../../common/errors';
import { errorKind, toResponse } from '../../common/exception.filter';
import { isKnownStorable } from '../../common/json-body';
import { AttemptsRecorder, reasonOfFailure } from '../attempts/attempts.recorder';
import { DedupService } from '../dedup/dedup.service';
import { MetricsService } from '../observability/metrics.service';
import { BATCH_MAX_ITEMS, ConversionBatchResponseDto, ConversionBatchResultDto } from './conversion-batch.dto';
import { CheckedConversionItem, validateConversionItem, ValidConversionItem } from './conversion-item.validation';
import { ConversionsService } from './conversions.service';

/** The metrics label of conversions that came in a batch. */
export const BATCH_SOURCE = 'batch';

type ItemOutcome = { result: ConversionBatchResultDto; kind: string; reachedDatabase: boolean };

/**
 * POST /api/conversions/batch: every item checked on its own, then recorded through
 * ConversionsService.record, the single route's one path, all at once so that they share the group
 * commit of the moment. No item's failure touches another's answer.
 */
@Injectable()
export class ConversionBatchService {
  private readonly logger = new Logger(ConversionBatchService.name);

  constructor(
    private readonly conversions: ConversionsService,
    private readonly dedup: DedupService,
    private readonly metrics: MetricsService,
    @Optional() private readonly attempts?: AttemptsRecorder,
  ) {}

  async recordBatch(
    caller: { partnerId: string; keyId: string; requestId: string | null; mode: DataMode },
    body: unknown,
    idempotencyHeader: string | string[] | undefined,
    validateOnly = false,
  ): Promise<ConversionBatchResponseDto> {
    if (idempotencyHeader !== undefined) {
      throw AppError.validation([
        {
          type: 'extra_forbidden',
          loc: ['header', 'idempotency-key'],
          msg: 'Extra inputs are not permitted: on the batch route, send each item its own idempotency_key',
          input: Array.isArray(idempotencyHeader) ? idempotencyHeader.join(', ') : idempotencyHeader,
        },
      ]);
    }
    const items = checkEnvelope(body);
    // Synchronous for items that pass the fast check; only items that fail it wait for class-validator.
    const storable = isKnownStorable(body);
    const pending = items.map((raw, i) => validateConversionItem(raw, ['body', 'conversions', i], storable, body));
    const checked: CheckedConversionItem[] = pending.some((c) => c instanceof Promise)
      ? await Promise.all(pending)
      : (pending as CheckedConversionItem[]);

    // Items that share a dedup key are recorded one after the other, in index order, so the first is
    // the `ok` and the later ones its duplicates whichever statement of the group commit each lands
    // in; all other items go at once. Validate-only writes no claim, so there the batch itself
    // answers a later item whose key an earlier validate-only `ok` would have claimed: its duplicate.
    const tails = new Map<string, Promise<ItemOutcome>>();
    const validatedOk = new Set<string>();
    const outcomes = await Promise.all(
      checked.map((c, index): Promise<ItemOutcome> | ItemOutcome => {
        if (!c.ok) return rejected(index, 'validation', 422, c.issues, false);
        const dedupKey = this.dedupKey(c);
        const key = dedupKey ? claimKeyOf(dedupKey.value, c) : null;
        const record = () => this.recordItem(caller, index, c, validateOnly);
        const run =
          validateOnly && key !== null
            ? async () => {
                const o = await record();
                if (o.result.status !== 'ok') return o;
                if (!validatedOk.has(key)) return (validatedOk.add(key), o);
                const matched_on = dedupKey!.layer;
                return { ...o, kind: 'duplicate', result: { index, status: 'duplicate' as const, matched_on } };
              }
            : record;
        if (key === null) return run();
        const previous = tails.get(key);
        const mine = previous ? previous.then(run) : run();
        tails.set(key, mine);
        return mine;
      }),
    );

    const reached = outcomes.filter((o) => o.reachedDatabase);
    if (reached.length > 0 && reached.every((o) => o.result.error?.status === 503)) {
      // The database is away: every item that reached it failed and nothing was written. The whole
      // request is the single route's retryable 503.
      for (const o of outcomes) {
        if (caller.mode === 'test') this.metrics.testConversion(o.kind, BATCH_SOURCE);
        else if (validateOnly) this.metrics.validateOnlyConversion(o.kind, BATCH_SOURCE);
        else this.metrics.conversion(o.kind, BATCH_SOURCE);
      }
      throw databaseUnavailable();
    }
    this.keepRefusedItems(caller, items, outcomes);
    const counts = { ok: 0, duplicate: 0, rejected: 0 };
    for (const o of outcomes) {
      counts[o.result.status]++;
      if (caller.mode === 'test') this.metrics.testConversion(o.kind, BATCH_SOURCE);
      else if (validateOnly) this.metrics.validateOnlyConversion(o.kind, BATCH_SOURCE);
      else this.metrics.conversion(o.kind, BATCH_SOURCE, o.result.matched_on);
    }
    if (!validateOnly) return { results: outcomes.map((o) => o.result), counts };
    return {
      results: outcomes.map((o) => ({ ...o.result, validate_only: true as const })),
      counts,
      validate_only: true,
    };
  }

  private dedupKey(c: ValidConversionItem) {
    return this.dedup.resolveKey({
      idempotencyKey: c.idempotencyKey,
      eventId: c.command.event_id,
      orderId: c.command.order_id,
    });
  }

  /** Each refused item is a refused attempt (issue 14), kept like the single route's, in the background. */
  private keepRefusedItems(
    caller: { partnerId: string; keyId: string; requestId: string | null; mode: DataMode },
    items: unknown[],
    outcomes: ItemOutcome[],
  ): void {
    if (!this.attempts) return;
    outcomes.forEach((o, index) => {
      const error = o.result.error;
      if (o.result.status !== 'rejected' || !error) return;
      const raw = items[index];
      const sent = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
      const { reason, issue } = reasonOfFailure(o.kind, error.status, error.detail);
      this.attempts!.refused({
        partnerId: caller.partnerId,
        keyId: caller.keyId,
        source: 'batch',
        clickId: sent.click_id,
        orderId: sent.order_id,
        eventId: sent.event_id,
        eventType: sent.event_type,
        status: error.status,
        reason,
        issue,
        requestId: caller.requestId,
        mode: caller.mode,
      });
    });
  }

  private async recordItem(
    caller: { partnerId: string; keyId?: string; requestId?: string | null; mode: DataMode },
    index: number,
    c: ValidConversionItem,
    validateOnly: boolean,
  ): Promise<ItemOutcome> {
    try {
      const r = await this.conversions.record(
        {
          partnerId: caller.partnerId,
          source: 'api',
          idempotencyKey: c.idempotencyKey,
          validateOnly,
          mode: caller.mode,
          keyId: caller.keyId ?? null,
          requestId: caller.requestId ?? null,
          batch: true,
        },
        c.command,
      );
      return { result: { index, ...r }, kind: r.status, reachedDatabase: true };
    } catch (e) {
      const { status, body } = toResponse(e);
      let detail = body.detail as string | ValidationIssue[];
      if (Array.isArray(detail)) detail = detail.map((issue) => atItem(issue, index));
      if (status >= 500 && status !== 503) {
        this.logger.error(`Batch item ${index} failed: ${(e as Error)?.stack ?? String(e)}`);
      }
      return rejected(index, errorKind(e), status, detail, true);
    }
  }
}

/** What the dedup claim of an item with dedup key `value` is unique on. */
function claimKeyOf(value: string, c: ValidConversionItem): string {
  return JSON.stringify([value, c.command.click_id, c.command.event_type]);
}

function rejected(
  index: number,
  kind: string,
  status: number,
  detail: string | ValidationIssue[],
  reachedDatabase: boolean,
): ItemOutcome {
  return { result: { index, status: 'rejected', error: { status, detail } }, kind, reachedDatabase };
}

/** A single-route issue (`["body", field]`) as the batch item's (`["body","conversions",i,field]`). */
function atItem(issue: ValidationIssue, index: number): ValidationIssue {
  const [where, ...rest] = issue.loc;
  return where === 'body' ? { ...issue, loc: ['body', 'conversions', index, ...rest] } : issue;
}

/** The whole request's shape: an object whose `conversions` is a list of 1 to 1,000 items. */
function checkEnvelope(body: unknown): unknown[] {
  if (body === undefined || body === null) {
    throw AppError.validation([{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }]);
  }
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw AppError.validation([
      {
        type: 'model_attributes_type',
        loc: ['body'],
        msg: 'Input should be a valid dictionary or object to extract fields from',
        input: body,
      },
    ]);
  }
  const loc = ['body', 'conversions'];
  const list = (body as { conversions?: unknown }).conversions;
  if (list === undefined) throw AppError.validation([{ type: 'missing', loc, msg: 'Field required', input: body }]);
  if (!Array.isArray(list)) {
    throw AppError.validation([{ type: 'list_type', loc, msg: 'Input should be a valid list', input: list }]);
  }
  if (list.length < 1) {
    throw AppError.validation([
      {
        type: 'too_short',
        loc,
        msg: 'List should have at least 1 item after validation, not 0',
        input: list,
        ctx: { field_type: 'List', min_length: 1, actual_length: 0 },
      },
    ]);
  }
  if (list.length > BATCH_MAX_ITEMS) {
    throw AppError.validation([
      {
        type: 'too_long',
        loc,
        msg: `List should have at most ${BATCH_MAX_ITEMS} items after validation, not ${list.length}`,
        // The list itself is not echoed back: it may be a megabyte.
        input: `[${list.length} items]`,
        ctx: { field_type: 'List', max_length: BATCH_MAX_ITEMS, actual_length: list.length },
      },
    ]);
  }
  return list;
}

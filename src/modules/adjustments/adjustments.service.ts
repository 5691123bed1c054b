import { Injectable, Logger } from '@nestjs/common';
import { databaseUnavailable } from '../../common/db-errors';
import { AppError, ERRORS, ValidationIssue } from '../../common/errors';
import { errorKind, toResponse } from '../../common/exception.filter';
import { Clock } from '../../common/clock';
import { MetricsService } from '../observability/metrics.service';
import {
  AdjustmentBatchResponseDto,
  AdjustmentResultDto,
  AdjustmentViewDto,
  ADJUSTMENTS_MAX_ITEMS,
  ConversionNetStateDto,
} from './adjustment.dto';
import { AdjustmentCommand, validateAdjustmentItem } from './adjustment-item.validation';
import { AdjustmentRecord, AdjustmentsRepository, ApplyOutcome, NetState } from './adjustments.repository';
import { ADJUSTMENT_TYPES } from './conversion-adjustment.entity';

type ItemOutcome = { result: AdjustmentResultDto; type: string; outcome: string; reachedDatabase: boolean };

/**
 * How many items of one request are in the database at once (each holds a pooled connection for its
 * transaction): a 1,000-item request must not take the whole pool from the conversion path.
 */
const ITEMS_IN_FLIGHT = 4;

/** Runs at most `n` of the functions given to it at once, the others in the order they came. */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/**
 * Runs the functions given for one key one after the other (in this process), different keys at
 * once. Adjustments of one conversion wait here, in memory, rather than each holding a pooled
 * connection while it waits for the row lock (50 of them would take the pool from everyone).
 */
function keyedQueue(): <T>(key: string, fn: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<unknown>>();
  return <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const run = (tails.get(key) ?? Promise.resolve()).then(fn);
    const tail = run.catch(() => undefined);
    tails.set(key, tail);
    void tail.then(() => tails.get(key) === tail && tails.delete(key));
    return run;
  };
}

/** How many times an item is tried when a concurrent writer took its dedup key first (then it is that one's duplicate). */
const UNIQUE_RETRIES = 2;

export function toAdjustmentView(a: AdjustmentRecord): AdjustmentViewDto {
  return {
    id: a.id,
    type: a.type,
    value: a.value,
    adjusted_at: a.adjusted_at.toISOString(),
    adjustment_id: a.adjustment_id,
    outcome: a.outcome,
    value_before: a.value_before,
    value_after: a.value_after,
    status_after: a.status_after,
    recorded_at: a.created_at.toISOString(),
  };
}

function stateView(id: string, s: NetState): ConversionNetStateDto {
  return {
    id,
    conversion_value: s.conversion_value,
    current_value: s.current_value,
    status: s.status,
    adjusted_at: s.adjusted_at ? s.adjusted_at.toISOString() : null,
  };
}

const isUniqueViolation = (e: unknown): boolean => {
  const code = String(
    (e as { code?: unknown; driverError?: { code?: unknown } })?.driverError?.code ??
      (e as { code?: unknown })?.code ??
      '',
  );
  return code === '23505' || code.startsWith('SQLITE_CONSTRAINT');
};

/**
 * POST /api/conversion/adjustments: every item checked on its own, then applied in its own
 * transaction (AdjustmentsRepository.apply, under the conversion's row lock). Items naming the same
 * conversion the same way run one after the other in request order; others at once. No item's
 * failure touches another's answer.
 */
@Injectable()
export class AdjustmentsService {
  private readonly logger = new Logger(AdjustmentsService.name);
  /** This process's adjustments, one conversion at a time (the row lock serialises processes). */
  private readonly perConversion = keyedQueue();

  constructor(
    private readonly repo: AdjustmentsRepository,
    private readonly metrics: MetricsService,
    private readonly clock: Clock,
  ) {}

  async adjustBatch(partnerId: string, body: unknown): Promise<AdjustmentBatchResponseDto> {
    const items = checkEnvelope(body);
    const checked = await Promise.all(
      items.map((raw, i) => validateAdjustmentItem(raw, ['body', 'adjustments', i], body)),
    );
    const tails = new Map<string, Promise<ItemOutcome>>();
    const limit = limiter(ITEMS_IN_FLIGHT);
    const outcomes = await Promise.all(
      checked.map((c, index): Promise<ItemOutcome> | ItemOutcome => {
        if (!c.ok) {
          const raw = items[index] as { type?: unknown } | null;
          const type = ADJUSTMENT_TYPES.includes(raw?.type as never) ? (raw!.type as string) : 'invalid';
          return {
            ...rejected(index, 'validation', 422, c.issues),
            type,
            outcome: 'validation',
            reachedDatabase: false,
          };
        }
        const key = c.command.conversion_id ?? JSON.stringify([c.command.order!.order_id, c.command.order!.event_type]);
        const run = () => limit(() => this.applyItem(partnerId, index, c.command));
        const previous = tails.get(key);
        const mine = previous ? previous.then(run) : run();
        tails.set(key, mine);
        return mine;
      }),
    );
    const reached = outcomes.filter((o) => o.reachedDatabase);
    for (const o of outcomes) this.metrics.adjustment(o.type, o.outcome);
    if (reached.length > 0 && reached.every((o) => o.result.error?.status === 503)) throw databaseUnavailable();
    const counts = { ok: 0, duplicate: 0, rejected: 0 };
    for (const o of outcomes) counts[o.result.status]++;
    return { results: outcomes.map((o) => o.result), counts };
  }

  private async applyItem(partnerId: string, index: number, cmd: AdjustmentCommand): Promise<ItemOutcome> {
    try {
      let out: ApplyOutcome;
      for (let attempt = 1; ; attempt++) {
        try {
          const ref = await this.repo.resolveConversion(partnerId, cmd);
          out = await this.perConversion(ref.id, () =>
            this.repo.transaction((m) => this.repo.apply(m, partnerId, ref, cmd, this.clock.now())),
          );
          break;
        } catch (e) {
          if (attempt < UNIQUE_RETRIES && isUniqueViolation(e)) continue;
          throw e;
        }
      }
      const result: AdjustmentResultDto = {
        index,
        status: out.status,
        conversion_id: out.conversion_id,
        ...(out.matched_on ? { matched_on: out.matched_on } : {}),
        adjustment: toAdjustmentView(out.adjustment),
        conversion: stateView(out.conversion_id, out.state),
      };
      if (out.status === 'ok' && out.adjustment.outcome === 'more_recent_adjustment') {
        result.warnings = [{ code: 'more_recent_adjustment', msg: ERRORS.more_recent_adjustment.detail }];
      }
      const outcome = out.status === 'duplicate' ? 'duplicate' : out.adjustment.outcome;
      return { result, type: cmd.type, outcome, reachedDatabase: true };
    } catch (e) {
      const { status, body } = toResponse(e);
      let detail = body.detail as string | ValidationIssue[];
      if (Array.isArray(detail)) detail = detail.map((issue) => atItem(issue, index));
      if (status >= 500 && status !== 503) {
        this.logger.error(`Adjustment item ${index} failed: ${(e as Error)?.stack ?? String(e)}`);
      }
      const code = e instanceof AppError ? e.code : errorKind(e);
      return { ...rejected(index, code, status, detail), type: cmd.type, outcome: code, reachedDatabase: true };
    }
  }

  /** Several conversions' adjustments (keyed by conversion id), each oldest recorded first. */
  async historiesOf(keys: readonly { click_id: string; id: string }[]): Promise<Map<string, AdjustmentViewDto[]>> {
    const m = await this.repo.historiesOf(keys);
    return new Map([...m].map(([id, list]) => [id, list.map(toAdjustmentView)]));
  }

  /** A conversion's adjustments, oldest recorded first (the history the detail views show). */
  async historyOf(clickId: string, conversionId: string): Promise<AdjustmentViewDto[]> {
    return (await this.repo.historyOf(clickId, conversionId)).map(toAdjustmentView);
  }
}

function rejected(index: number, code: string, status: number, detail: string | ValidationIssue[]) {
  return { result: { index, status: 'rejected' as const, error: { status, code, detail } } };
}

/** An issue at `["body", …]` (a data exception's) as this item's. */
function atItem(issue: ValidationIssue, index: number): ValidationIssue {
  const [where, ...rest] = issue.loc;
  return where === 'body' && rest[0] !== 'adjustments'
    ? { ...issue, loc: ['body', 'adjustments', index, ...rest] }
    : issue;
}

/** The whole request's shape: an object whose `adjustments` is a list of 1 to 1,000 items. */
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
  const loc = ['body', 'adjustments'];
  const list = (body as { adjustments?: unknown }).adjustments;
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
  if (list.length > ADJUSTMENTS_MAX_ITEMS) {
    throw AppError.validation([
      {
        type: 'too_long',
        loc,
        msg: `List should have at most ${ADJUSTMENTS_MAX_ITEMS} items after validation, not ${list.length}`,
        input: `[${list.length} items]`,
        ctx: { field_type: 'List', max_length: ADJUSTMENTS_MAX_ITEMS, actual_length: list.length },
      },
    ]);
  }
  return list;
}

import { Injectable } from '@nestjs/common';
import { Readable, Transform } from 'node:stream';
import { stringify } from 'csv-stringify';
import { AppError } from '../../common/errors';
import { decodeCursor, encodeCursor, intOr } from '../../common/query';
import { parseDateTime } from '../../common/parsers';
import { fromDbTime } from '../../database/column-types';
import { AdjustmentsService } from '../adjustments/adjustments.service';
import { ClicksService } from '../clicks/clicks.service';
import {
  ClickWithConversionsDto,
  ConversionDetailDto,
  ConversionFiltersDto,
  ConversionItemDto,
  ConversionPageDto,
  DEFAULT_PAGE_SIZE,
} from './conversion-query.dto';
import { ConversionFilter, ConversionReadsRepository, ConversionRow, CSV_EXPORT } from './conversion-reads.repository';

/**
 * Rows fetched per round trip while exporting. Measured on 1M rows: 500 keeps the service's RSS
 * flat (~150 MB) at 40-57k rows/s; 750-2,000 were no faster and let RSS climb to ~280 MB.
 */
const EXPORT_BATCH = 500;

/** Conversions on a click are few; this bounds the answer of the click view all the same. */
const MAX_CLICK_CONVERSIONS = 1000;

/** The CSV header, in the contract's order (from CSV_EXPORT, which also makes the query and the rows). */
export const CSV_COLUMNS = CSV_EXPORT.map((c) => c.header);

/**
 * CSV injection (OWASP): a spreadsheet runs a cell that starts with = + - @ tab or CR as a formula,
 * and partners and Tag visitors choose most text columns. Such a text cell gets a leading '.
 * Numeric columns are left alone, so a negative value stays -5.
 */
const FORMULA_START = new Set(['=', '+', '-', '@', '\t', '\r']);
const NUMERIC_COLUMNS = new Set<number>(
  ['conversion_value', 'current_value', 'adjustment_count'].map((c) => CSV_COLUMNS.indexOf(c)),
);
const csvCell = (value: string, ctx: { column?: number | string; header: boolean }): string =>
  !ctx.header && FORMULA_START.has(value.charAt(0)) && !NUMERIC_COLUMNS.has(ctx.column as number) ? `'${value}` : value;

function iso(v: unknown): string {
  return fromDbTime(v)!.toISOString();
}

function str(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

export function toConversionItem(r: ConversionRow): ConversionItemDto {
  return {
    id: r.id as string,
    partner_id: r.partner_id as string,
    tag_id: r.tag_id as string,
    click_id: r.click_id as string,
    bid_id: r.bid_id as string,
    source: r.source as string,
    event_type: r.event_type as string,
    conversion_time: iso(r.conversion_time),
    conversion_value: String(r.conversion_value),
    currency: r.currency as string,
    order_id: str(r.order_id),
    event_id: str(r.event_id),
    dedup_key: str(r.dedup_key),
    dedup_layer: str(r.dedup_layer),
    page_url: str(r.page_url),
    referrer: str(r.referrer),
    user_agent: str(r.user_agent),
    session_id: str(r.session_id),
    client_id: str(r.client_id),
    created_at: iso(r.created_at),
    attribution_status: str(r.attribution_status),
    mode: r.mode === 'test' ? 'test' : 'live',
    current_value: String(r.current_value ?? r.conversion_value),
    status: (r.status as string | null) ?? 'active',
    adjusted_at: r.adjusted_at == null ? null : iso(r.adjusted_at),
    adjustment_count: Number(r.adjustment_count ?? 0),
  };
}

/** PostgreSQL's numeric text keeps the column's 6 decimals; the API speaks the canonical decimal. */
function canonicalMoney(v: unknown): string {
  const s = String(v);
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

function extraOf(params: unknown): Record<string, unknown> {
  const p = (typeof params === 'string' ? JSON.parse(params) : params) as { extra?: Record<string, unknown> } | null;
  return p?.extra ?? {};
}

/** Joins the CSV library's one-chunk-per-row output into ~64 KiB writes to the socket. */
function coalesce(target = 64 * 1024): Transform {
  let parts: Buffer[] = [];
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      parts.push(chunk);
      size += chunk.length;
      if (size >= target) {
        const out = Buffer.concat(parts, size);
        parts = [];
        size = 0;
        done(null, out);
      } else {
        done();
      }
    },
    flush(done) {
      done(null, size ? Buffer.concat(parts, size) : undefined);
    },
  });
}

/** Resolves when a writable may take more, or is gone. */
function drainOrClose(w: NodeJS.WritableStream & { destroyed?: boolean }): Promise<void> {
  if (w.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      w.removeListener('drain', done);
      w.removeListener('close', done);
      resolve();
    };
    w.on('drain', done);
    w.on('close', done);
  });
}

/** Reading conversions: lists, one conversion, a click's conversions, the CSV export. */
@Injectable()
export class ConversionReadsService {
  constructor(
    private readonly repo: ConversionReadsRepository,
    private readonly clicks: ClicksService,
    private readonly adjustments: AdjustmentsService,
  ) {}

  /** One page, newest first. `partnerId` confines the listing to one partner's rows. */
  async listConversions(
    query: ConversionFiltersDto & { limit?: string; cursor?: string },
    partnerId?: string,
  ): Promise<ConversionPageDto> {
    const filter = this.toFilter(query, partnerId);
    const after = decodeCursor(query.cursor);
    const limit = intOr(query.limit, DEFAULT_PAGE_SIZE);
    const rows = await this.repo.page(filter, after, limit + 1);
    const more = rows.length > limit;
    const items = rows.slice(0, limit).map((r) => this.item(r));
    const last = items[items.length - 1];
    return {
      items,
      next_cursor: more && last ? encodeCursor({ at: new Date(last.conversion_time), id: last.id }) : null,
    };
  }

  async getConversion(id: string): Promise<ConversionDetailDto> {
    const row = await this.repo.findById(id);
    if (!row) throw new AppError('conversion_not_found');
    const [click, adjustments] = await Promise.all([
      this.clicks.findClick(row.click_id as string),
      this.adjustments.historyOf(row.click_id as string, id),
    ]);
    return this.detail(row, click, adjustments);
  }

  /** A conversion as the admin view shows it: its listing item, its extra params, click and history. */
  private detail(
    row: ConversionRow,
    click: ConversionDetailDto['click'],
    adjustments: ConversionDetailDto['adjustments'],
  ): ConversionDetailDto {
    return { ...this.item(row), params: { extra: extraOf(row.params) }, click, adjustments };
  }

  /**
   * Several conversions as getConversion shows each (the webhook dispatcher's round), in at most
   * three queries: the rows, their clicks, and the adjustment histories of those that have any.
   * Keyed by conversion id; a missing conversion is absent.
   */
  async getConversionsByKeys(
    keys: readonly { click_id: string; id: string }[],
  ): Promise<Map<string, ConversionDetailDto>> {
    const out = new Map<string, ConversionDetailDto>();
    const rows = await this.repo.findByKeys(keys);
    if (rows.length === 0) return out;
    const adjusted = rows
      .filter((r) => Number(r.adjustment_count) > 0)
      .map((r) => ({ click_id: r.click_id as string, id: r.id as string }));
    const [clicks, histories] = await Promise.all([
      this.clicks.findClicks([...new Set(rows.map((r) => r.click_id as string))]),
      this.adjustments.historiesOf(adjusted),
    ]);
    for (const row of rows) {
      const id = row.id as string;
      out.set(id, this.detail(row, clicks.get(row.click_id as string) ?? null, histories.get(id) ?? []));
    }
    return out;
  }

  async getClickWithConversions(clickId: string): Promise<ClickWithConversionsDto> {
    const click = await this.clicks.findClick(clickId);
    if (!click) throw new AppError('click_not_found');
    const rows = await this.repo.page({ click_id: clickId }, null, MAX_CLICK_CONVERSIONS);
    return { ...click, conversions: rows.map((r) => this.item(r)) };
  }

  /**
   * The filtered list as CSV: a header row, then every row, newest first. Rows are read in
   * keyset batches as the client consumes them (backpressure), so memory stays flat whatever
   * the row count. Filters are checked before the first byte, so a bad one is still a 422.
   */
  exportConversionsCsv(query: ConversionFiltersDto): Readable {
    const filter = this.toFilter(query);
    const csv = stringify({
      header: true,
      columns: [...CSV_COLUMNS],
      record_delimiter: 'windows',
      cast: { string: csvCell },
      // The library quotes a field holding the whole CRLF delimiter, not one holding a lone CR or LF,
      // which would then split the row for every RFC 4180 reader.
      quoted_match: /[\r\n]/,
    });
    const batches = this.repo.csvBatches(filter, EXPORT_BATCH);
    let gone = false;
    csv.once('close', () => (gone = true));
    void (async () => {
      try {
        for await (const batch of batches) {
          for (const row of batch) {
            // Backpressure: wait while the client is slower than the database.
            if (!csv.write(row)) await drainOrClose(csv);
            if (gone) return;
          }
        }
        csv.end();
      } catch (e) {
        csv.destroy(e as Error);
      } finally {
        // A client that went away ends the generator (and so its queries) here.
        await batches.return(undefined);
      }
    })();
    const out = coalesce();
    csv.on('error', (e) => out.destroy(e));
    out.once('close', () => {
      if (!csv.writableFinished) csv.destroy();
    });
    return csv.pipe(out);
  }

  private item(r: ConversionRow): ConversionItemDto {
    const it = toConversionItem(r);
    it.conversion_value = canonicalMoney(it.conversion_value);
    it.current_value = canonicalMoney(it.current_value);
    return it;
  }

  private toFilter(q: ConversionFiltersDto, partnerId?: string): ConversionFilter {
    const f: ConversionFilter = {};
    if (partnerId !== undefined) f.partner_id = partnerId;
    else if (q.partner_id != null) f.partner_id = q.partner_id;
    if (q.tag_id != null) f.tag_id = q.tag_id;
    if (q.click_id != null) f.click_id = q.click_id;
    if (q.order_id != null) f.order_id = q.order_id;
    if (q.event_type != null) f.event_type = q.event_type;
    if (q.source != null) f.source = q.source;
    if (q.attribution_status != null) f.attribution_status = q.attribution_status;
    // Live data unless test data is asked for: a listing never mixes the two.
    f.mode = q.mode ?? 'live';
    if (q.status != null) f.status = q.status;
    if (q.from != null) f.from = (parseDateTime(q.from) as { date: Date }).date;
    if (q.to != null) f.to = (parseDateTime(q.to) as { date: Date }).date;
    return f;
  }
}

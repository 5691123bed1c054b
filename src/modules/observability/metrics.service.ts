import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { Dialect } from '../../database/dialect';

/**
 * The service's Prometheus metrics, in a registry of its own (not prom-client's global one, so
 * several app instances in one process, as in tests, do not collide).
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  private readonly requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  private readonly latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from receiving a request to sending its answer, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  private readonly conversions = new Counter({
    name: 'conversions_total',
    help: 'Conversion requests by outcome (ok, duplicate, or the error kind) and source (api, tag, ...).',
    labelNames: ['outcome', 'source'] as const,
    registers: [this.registry],
  });

  private readonly validateOnlyConversions = new Counter({
    name: 'conversions_validate_only_total',
    help:
      'Validate-only conversion requests (?validate_only=true: checked, nothing written) by outcome and source; ' +
      'never counted in conversions_total.',
    labelNames: ['outcome', 'source', 'mode'] as const,
    registers: [this.registry],
  });

  private readonly testConversions = new Counter({
    name: 'conversions_test_total',
    help:
      'Sandbox conversion requests (a test key, or the Tag on a test click) by outcome and source; test data is ' +
      'never counted in conversions_total or the other conversion series.',
    labelNames: ['outcome', 'source'] as const,
    registers: [this.registry],
  });

  private readonly dedupMatches = new Counter({
    name: 'dedup_matches_total',
    help: 'Conversions answered duplicate, by the layer the dedup key came from.',
    labelNames: ['layer'] as const,
    registers: [this.registry],
  });

  private readonly superseded = new Counter({
    name: 'conversions_superseded_total',
    help: "Server conversions that replaced the values of the Tag conversion holding their dedup claim, by the replaced row's source.",
    labelNames: ['replaced'] as const,
    registers: [this.registry],
  });

  private readonly payloadMismatches = new Counter({
    name: 'conversion_payload_mismatch_total',
    help: 'Duplicates whose money field differs from the conversion they matched, by field.',
    labelNames: ['field'] as const,
    registers: [this.registry],
  });

  private readonly adjustments = new Counter({
    name: 'conversion_adjustments_total',
    help: 'Conversion adjustments by type and outcome: applied, more_recent_adjustment (recorded, total unchanged), duplicate, or the refusal code.',
    labelNames: ['type', 'outcome'],
    registers: [this.registry],
  });

  private readonly attributions = new Counter({
    name: 'conversion_attribution_total',
    help: 'Attribution-time verdicts (ok, precedes_click, outside_window, future) of conversions past the click checks, by what became of them (recorded, rejected).',
    labelNames: ['verdict', 'action'] as const,
    registers: [this.registry],
  });

  constructor(@InjectDataSource() ds: DataSource) {
    collectDefaultMetrics({ register: this.registry });
    const dialect = new Dialect(ds);
    const pool = () => dialect.pgPoolIfAny();
    new Gauge({
      name: 'db_pool_connections',
      help: 'PostgreSQL pool: connections by state (total, idle, in_use), the configured maximum, and requests waiting for one.',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const p = pool();
        if (!p) return;
        this.set({ state: 'total' }, p.totalCount);
        this.set({ state: 'idle' }, p.idleCount);
        this.set({ state: 'in_use' }, p.totalCount - p.idleCount);
        this.set({ state: 'waiting' }, p.waitingCount);
        this.set({ state: 'max' }, p.options?.max ?? 0);
      },
    });
  }

  /** One answered request; `route` is the route pattern (never the raw URL) or "unmatched". */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.requests.inc(labels);
    this.latency.observe(labels, seconds);
  }

  conversion(outcome: string, source: string, dedupLayer?: string): void {
    this.conversions.inc({ outcome, source });
    if (outcome === 'duplicate' && dedupLayer) this.dedupMatches.inc({ layer: dedupLayer });
  }

  /** A server conversion superseded a conversion from `replaced` (the Tag). */
  conversionSuperseded(replaced: string): void {
    this.superseded.inc({ replaced });
  }

  /** A duplicate whose `fields` differ from the conversion it matched. */
  payloadMismatch(fields: readonly string[]): void {
    for (const field of fields) this.payloadMismatches.inc({ field });
  }

  /** A validate-only request's outcome: its own counter, so live conversion counts stay what was written. */
  validateOnlyConversion(outcome: string, source: string): void {
    this.validateOnlyConversions.inc({ outcome, source, mode: 'validate_only' });
  }

  /** A test (sandbox) conversion's outcome: its own counter, so the live series count live data only. */
  testConversion(outcome: string, source: string): void {
    this.testConversions.inc({ outcome, source });
  }

  attribution(verdict: string, action: 'recorded' | 'rejected'): void {
    this.attributions.inc({ verdict, action });
  }

  /** One adjustment item's outcome; `type` is `invalid` when the item's type was not valid. */
  adjustment(type: string, outcome: string): void {
    this.adjustments.inc({ type, outcome });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

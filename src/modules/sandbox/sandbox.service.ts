import { Injectable } from '@nestjs/common';
import { Clock } from '../../common/clock';
import { AppError } from '../../common/errors';
import { intOr } from '../../common/query';
import { parseDateTime } from '../../common/parsers';
import { reasonOf } from '../attempts/refusal-reasons';
import type { Principal } from '../auth/principal';
import { SignedClickView } from '../clicks/click.dto';
import { ClicksService } from '../clicks/clicks.service';
import {
  CreateTestClickDto,
  TEST_EVENTS_DEFAULT_LIMIT,
  TEST_EVENTS_HORIZON_MS,
  TestEventDto,
  TestEventsDto,
  TestEventsQueryDto,
} from './sandbox.dto';
import { SandboxRepository } from './sandbox.repository';

/** The partner of a test key; a live key (or any other) is answered 403 test_key_required. */
export function testPartnerOf(principal: Principal): string {
  if (principal.mode !== 'test' || !principal.partnerId) throw new AppError('test_key_required');
  return principal.partnerId;
}

/** The sandbox's own doors: synthetic clicks and the test-events feed (test keys only). */
@Injectable()
export class SandboxService {
  constructor(
    private readonly clicks: ClicksService,
    private readonly repo: SandboxRepository,
    private readonly clock: Clock,
  ) {}

  createTestClick(principal: Principal, dto: CreateTestClickDto): Promise<SignedClickView> {
    return this.clicks.registerTestClick(testPartnerOf(principal), dto);
  }

  /** The last 24 hours (at most) of the key's partner's test conversions and refused test attempts, newest first. */
  async listTestEvents(principal: Principal, q: TestEventsQueryDto): Promise<TestEventsDto> {
    const partnerId = testPartnerOf(principal);
    const horizon = new Date(this.clock.now().getTime() - TEST_EVENTS_HORIZON_MS);
    const asked = q.since != null ? (parseDateTime(q.since) as { date: Date }).date : horizon;
    const since = asked < horizon ? horizon : asked;
    const limit = intOr(q.limit, TEST_EVENTS_DEFAULT_LIMIT);
    // limit + 1 of each: the newest `limit` of both together are among them, and one more says "truncated".
    const [conversions, attempts] = await Promise.all([
      this.repo.testConversions(partnerId, since, limit + 1),
      this.repo.testAttempts(partnerId, since, limit + 1),
    ]);
    const events: (TestEventDto & { key: string })[] = [
      ...conversions.map((c) => {
        const warning = c.attribution_status && c.attribution_status !== 'ok' ? c.attribution_status : null;
        return {
          key: c.id,
          type: 'conversion' as const,
          at: c.at.toISOString(),
          outcome: 'recorded' as const,
          reason: warning,
          reason_label: warning ? reasonOf(warning).label : null,
          status: 200,
          conversion_id: c.id,
          source: c.source,
          click_id: c.click_id,
          event_type: c.event_type,
          order_id: c.order_id,
          event_id: c.event_id,
          error_loc: null,
          error_type: null,
        };
      }),
      ...attempts.map((a) => ({
        key: a.id,
        type: 'refused_attempt' as const,
        at: a.at.toISOString(),
        outcome: 'rejected' as const,
        reason: a.reason,
        reason_label: reasonOf(a.reason).label,
        status: a.status,
        conversion_id: null,
        source: a.source,
        click_id: a.click_id,
        event_type: a.event_type,
        order_id: a.order_id,
        event_id: a.event_id,
        error_loc: a.error_loc,
        error_type: a.error_type,
      })),
    ];
    events.sort((x, y) => (x.at < y.at ? 1 : x.at > y.at ? -1 : x.key < y.key ? 1 : x.key > y.key ? -1 : 0));
    return {
      since: since.toISOString(),
      items: events.slice(0, limit).map(({ key: _key, ...e }) => e),
      truncated: events.length > limit,
    };
  }
}

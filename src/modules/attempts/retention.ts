import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Clock } from '../../common/clock';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { DedupService } from '../dedup/dedup.service';
import { AttemptsRepository, PURGE_BATCH } from './attempts.repository';

/** What one run removed of the sandbox's data (TEST_DATA_TTL). */
export interface TestPurge {
  conversions: number;
  dedupClaims: number;
  clicks: number;
  attempts: number;
}

/** At most this many batches per table per run, so one run never holds the database for long. */
const MAX_BATCHES_PER_RUN = 100;

/**
 * The periodic delete: refused attempts older than ATTEMPTS_RETENTION, dedup claims past the
 * dedup window (they no longer match anything, and grew without bound), and the sandbox's test
 * conversions, claims, clicks and attempts older than TEST_DATA_TTL. Every RETENTION_INTERVAL,
 * jittered ±20% so replicas spread out; in bounded batches, which on PostgreSQL skip rows another
 * replica is deleting (FOR UPDATE SKIP LOCKED), so several replicas may run it at once.
 */
@Injectable()
export class RetentionJob implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Retention');
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly repo: AttemptsRepository,
    private readonly dedup: DedupService,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.schedule();
  }

  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(): void {
    const jitter = 0.8 + Math.random() * 0.4;
    this.timer = setTimeout(
      () => {
        this.running = this.run()
          .catch((e) => this.logger.warn(`Retention run failed: ${(e as Error)?.message ?? e}`))
          .finally(() => {
            this.running = undefined;
            if (this.timer) this.schedule();
          });
      },
      Math.round(this.config.retentionIntervalMs * jitter),
    );
    this.timer.unref();
  }

  /** One run; returns how many rows each delete removed. */
  async run(): Promise<{ attempts: number; dedupClaims: number; test: TestPurge }> {
    const now = this.clock.now();
    const attempts = await this.repeat(() =>
      this.repo.purgeAttempts(new Date(now.getTime() - this.config.attemptsRetentionMs)),
    );
    const dedupClaims = await this.repeat(() => this.repo.purgeDedupClaims(this.dedup.windowStart(now)));
    if (attempts + dedupClaims > 0)
      this.logger.log(`Removed ${attempts} refused attempts and ${dedupClaims} expired dedup claims`);
    const test = await this.purgeTestData(new Date(now.getTime() - this.config.testDataTtlMs));
    if (test.conversions + test.clicks + test.dedupClaims + test.attempts > 0)
      this.logger.log(
        `Removed test data older than TEST_DATA_TTL: ${test.conversions} conversions, ${test.dedupClaims} dedup claims, ` +
          `${test.clicks} clicks, ${test.attempts} refused attempts`,
      );
    return { attempts, dedupClaims, test };
  }

  /** The sandbox's rows older than `before`; a click last, once nothing of it is left. */
  private async purgeTestData(before: Date): Promise<TestPurge> {
    const conversions = await this.repeat(() => this.repo.purgeTestConversions(before));
    const dedupClaims = await this.repeat(() => this.repo.purgeTestDedupClaims(before));
    const clicks = await this.repeat(() => this.repo.purgeTestClicks(before));
    const attempts = await this.repeat(() => this.repo.purgeTestAttempts(before));
    return { conversions, dedupClaims, clicks, attempts };
  }

  private async repeat(step: () => Promise<number>): Promise<number> {
    let total = 0;
    for (let i = 0; i < MAX_BATCHES_PER_RUN; i++) {
      const n = await step();
      total += n;
      if (n < PURGE_BATCH) break;
    }
    return total;
  }
}

import { Global, Module } from '@nestjs/common';
import { ClicksModule } from '../clicks/clicks.module';
import { DedupModule } from '../dedup/dedup.module';
import { AttemptsRecorder } from './attempts.recorder';
import { AttemptsRepository } from './attempts.repository';
import { CONVERSION_REFUSALS } from '../observability/conversion-refusals';
import { RetentionJob } from './retention';

/**
 * Refused conversion attempts (table conversion_attempts): the recorder every conversion door
 * calls (through the request hook, or `AttemptsRecorder.refused()` per batch item) and the
 * retention job. Global, so the observability hook finds the recorder without importing it.
 */
@Global()
@Module({
  imports: [DedupModule, ClicksModule],
  providers: [
    AttemptsRepository,
    AttemptsRecorder,
    RetentionJob,
    { provide: CONVERSION_REFUSALS, useExisting: AttemptsRecorder },
  ],
  exports: [AttemptsRecorder, CONVERSION_REFUSALS],
})
export class AttemptsModule {}

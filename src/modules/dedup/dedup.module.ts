import { Module } from '@nestjs/common';
import { DedupService } from './dedup.service';

/** No controller: the conversion flow calls the service. */
@Module({ providers: [DedupService], exports: [DedupService] })
export class DedupModule {}

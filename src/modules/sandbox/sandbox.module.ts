import { Module } from '@nestjs/common';
import { ClicksModule } from '../clicks/clicks.module';
import { SandboxController } from './sandbox.controller';
import { SandboxRepository } from './sandbox.repository';
import { SandboxService } from './sandbox.service';

/** The sandbox's own routes (issue 12): synthetic clicks and the test-events feed, for test keys. */
@Module({
  imports: [ClicksModule],
  controllers: [SandboxController],
  providers: [SandboxService, SandboxRepository],
})
export class SandboxModule {}

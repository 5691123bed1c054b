import { Module } from '@nestjs/common';
import { ConsoleAssets } from './console-assets';
import { ConsoleController } from './console.controller';

/** The support console at /console (issue 14): the page and its built assets, under a strict CSP. */
@Module({ controllers: [ConsoleController], providers: [ConsoleAssets] })
export class ConsoleModule {}

import { Injectable } from '@nestjs/common';

/** The service's notion of now; tests replace it to walk across the dedup window's edge. */
@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }
}

import { RouteConfig } from '@nestjs/platform-fastify';

/** The Fastify route-config key that marks a conversion route with its source. */
export const CONVERSION_SOURCE = 'conversionSource';

/**
 * Counts a conversion route's outcomes (ok, duplicate, each error kind) in
 * `conversions_total{outcome,source}` and duplicates in `dedup_matches_total{layer}`. It only marks
 * the route: the counting is done by a Fastify preSerialization hook (HttpObservability), not by a
 * Nest interceptor, whose rxjs pipeline cost about 50 µs of CPU per request on the hot path.
 */
export const CountConversions = (source: 'api' | 'tag', opts: { validateOnly?: boolean } = {}) =>
  RouteConfig({ [CONVERSION_SOURCE]: source, ...(opts.validateOnly ? { [CONVERSION_VALIDATE_ONLY]: true } : {}) });

/**
 * The route-config key of a conversion route that takes `?validate_only=true`: such requests are
 * counted in `conversions_validate_only_total{outcome,source,mode="validate_only"}` instead.
 */
export const CONVERSION_VALIDATE_ONLY = 'conversionValidateOnly';

/**
 * Set (to true) on the Fastify reply of a conversion whose data is test data (a test key's, or the
 * Tag's on a test click): it is counted in `conversions_test_total` instead of the live series.
 */
export const TEST_DATA = Symbol('testData');

/** Marks a reply as answering a test conversion (see TEST_DATA). */
export function markTestData(reply: object): void {
  (reply as Record<symbol, unknown>)[TEST_DATA] = true;
}

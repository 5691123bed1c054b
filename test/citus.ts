import { execFileSync } from 'node:child_process';
import { TEST_DATABASE_URL } from './test-app';

/**
 * Whether the suite runs on a Citus coordinator (TEST_DATABASE_URL names a database with the citus
 * extension): asked once, synchronously (with psql), when a spec is loaded, so a Citus-only spec
 * can skip with describe.skip instead of asserting nothing.
 */
export const onCitus: boolean = (() => {
  if (!TEST_DATABASE_URL) return false;
  try {
    const out = execFileSync(
      'psql',
      [TEST_DATABASE_URL, '-tAc', `SELECT 1 FROM pg_extension WHERE extname = 'citus'`],
      {
        encoding: 'utf8',
        timeout: 10_000,
      },
    );
    return out.trim() === '1';
  } catch {
    return false;
  }
})();

/** `describe` on Citus, `describe.skip` elsewhere. */
export const describeOnCitus = onCitus ? describe : describe.skip;

/** `it` except on Citus (then `it.skip`): for a test a Citus run cannot pass yet; say why beside it. */
export const itExceptOnCitus = onCitus ? it.skip : it;

import { InitialSchema1764200000000 } from '../../migrations/1764200000000-initial-schema';

/** Every migration, in order, listed explicitly (never globbed). */
export const MIGRATIONS = [InitialSchema1764200000000];

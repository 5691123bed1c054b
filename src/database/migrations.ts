import { InitialSchema1764200000000 } from '../../migrations/1764200000000-initial-schema';
import { PartnerRateLimit1764600000001 } from '../../migrations/1764600000001-partner-rate-limit';

/** Every migration, in order, listed explicitly (never globbed). */
export const MIGRATIONS = [InitialSchema1764200000000, PartnerRateLimit1764600000001];

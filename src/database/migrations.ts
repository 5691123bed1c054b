import { InitialSchema1764200000000 } from '../../migrations/1764200000000-initial-schema';
import { AdminIndexesAudit1764300000000 } from '../../migrations/1764300000000-admin-indexes-audit';
import { PartnerFilterIndexes1764300000001 } from '../../migrations/1764300000001-partner-filter-indexes';
import { PartnerRateLimit1764600000001 } from '../../migrations/1764600000001-partner-rate-limit';
import { HideSuppliedKeyPrefixes1764900000010 } from '../../migrations/1764900000010-hide-supplied-key-prefixes';
import { ConversionAttempts1764900000020 } from '../../migrations/1764900000020-conversion-attempts';
import { AttributionChecks1765000000012 } from '../../migrations/1765000000012-attribution-checks';
import { SandboxMode1765100000012 } from '../../migrations/1765100000012-sandbox-mode';
import { ConversionAdjustments1765100000013 } from '../../migrations/1765100000013-conversion-adjustments';
import { Webhooks1765100000023 } from '../../migrations/1765100000023-webhooks';
import { AttemptDuplicates1765100000030 } from '../../migrations/1765100000030-attempt-duplicates';
import { CitusDistribution1765900000015 } from '../../migrations/1765900000015-citus-distribution';
import { ConversionIndexCosts1765900000020 } from '../../migrations/1765900000020-conversion-index-costs';
import { WebhookPendingIndex1765900000030 } from '../../migrations/1765900000030-webhook-pending-index';
import { WebhookHeldMessages1765900000040 } from '../../migrations/1765900000040-webhook-held-messages';

/** Every migration, in order, listed explicitly (never globbed). */
export const MIGRATIONS = [
  InitialSchema1764200000000,
  AdminIndexesAudit1764300000000,
  PartnerFilterIndexes1764300000001,
  PartnerRateLimit1764600000001,
  HideSuppliedKeyPrefixes1764900000010,
  ConversionAttempts1764900000020,
  AttributionChecks1765000000012,
  SandboxMode1765100000012,
  ConversionAdjustments1765100000013,
  Webhooks1765100000023,
  AttemptDuplicates1765100000030,
  CitusDistribution1765900000015,
  ConversionIndexCosts1765900000020,
  WebhookPendingIndex1765900000030,
  WebhookHeldMessages1765900000040,
];

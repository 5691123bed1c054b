import { ConversionAdjustment } from '../modules/adjustments/conversion-adjustment.entity';
import { ConversionAttempt } from '../modules/attempts/conversion-attempt.entity';
import { AuditEntry } from '../modules/audit/audit-entry.entity';
import { ApiKey } from '../modules/auth/api-key.entity';
import { Click } from '../modules/clicks/click.entity';
import { Conversion } from '../modules/conversions/conversion.entity';
import { DedupClaim } from '../modules/dedup/dedup-claim.entity';
import { Partner } from '../modules/partners/partner.entity';
import { Tag } from '../modules/partners/tag.entity';
import { WebhookDelivery, WebhookEndpoint, WebhookMessage } from '../modules/webhooks/webhook.entities';

/** Every entity, listed explicitly (never globbed). */
export const ENTITIES = [
  Partner,
  Tag,
  ApiKey,
  Click,
  Conversion,
  DedupClaim,
  AuditEntry,
  ConversionAttempt,
  ConversionAdjustment,
  WebhookEndpoint,
  WebhookMessage,
  WebhookDelivery,
];

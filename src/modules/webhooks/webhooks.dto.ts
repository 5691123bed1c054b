import { ApiProperty } from '@nestjs/swagger';
import { ValidateBy } from 'class-validator';
import { IntQuery } from '../../common/query';
import { DateTime, Documented, HttpUrl, Optional, Required, Str } from '../../common/validation';
import { WEBHOOK_EVENTS, type WebhookEvent } from './webhook.entities';

const EXPECTED_EVENTS = WEBHOOK_EVENTS.map((e) => `'${e}'`).join(', ');

function check(name: string, validate: (v: unknown) => boolean, msg: string, ctx?: Record<string, unknown>) {
  return ValidateBy({ name, validator: { validate, defaultMessage: () => msg } }, { context: { ctx } });
}

/** A non-empty list of distinct webhook event names. */
function EventList(): PropertyDecorator {
  return (target: object, key: string | symbol) => {
    Documented({ type: 'array', items: { type: 'string', enum: [...WEBHOOK_EVENTS] }, minItems: 1, maxItems: 4 })(
      target,
      key,
    );
    check('list_type', (v) => Array.isArray(v), 'Input should be a valid list')(target, key as string);
    check('too_short', (v) => !Array.isArray(v) || v.length >= 1, 'List should have at least 1 item after validation', {
      min_length: 1,
    })(target, key as string);
    check(
      'enum',
      (v) =>
        !Array.isArray(v) ||
        (v.length <= WEBHOOK_EVENTS.length &&
          v.every((x) => typeof x === 'string' && (WEBHOOK_EVENTS as readonly string[]).includes(x)) &&
          new Set(v).size === v.length),
      `Input should be a list of distinct events, each ${EXPECTED_EVENTS}`,
      { expected: EXPECTED_EVENTS },
    )(target, key as string);
  };
}

function Bool(): PropertyDecorator {
  return (target: object, key: string | symbol) => {
    Documented({ type: 'boolean' })(target, key);
    check('bool_type', (v) => typeof v === 'boolean', 'Input should be a valid boolean')(target, key as string);
  };
}

export class CreateWebhookEndpointDto {
  @Required()
  @HttpUrl(2048)
  @ApiProperty({
    description:
      'Where messages are POSTed: an absolute https (or http) URL. Private addresses are refused when sending.',
    example: 'https://hooks.acme.com/thrad',
  })
  url: string;

  @Required()
  @EventList()
  @ApiProperty({ description: 'The events sent to this endpoint.', example: ['conversion.created'] })
  events: WebhookEvent[];

  @Optional()
  @Bool()
  @ApiProperty({ description: 'Whether messages are sent (default true).', example: true, default: true })
  enabled?: boolean;
}

export class UpdateWebhookEndpointDto {
  @Optional()
  @HttpUrl(2048)
  @ApiProperty({ description: 'The new URL; unchanged when absent.', example: 'https://hooks.acme.com/thrad/v2' })
  url?: string;

  @Optional()
  @EventList()
  @ApiProperty({
    description: 'Replaces the subscribed events; unchanged when absent.',
    example: ['conversion.created', 'conversion.adjusted'],
  })
  events?: WebhookEvent[];

  @Optional()
  @Bool()
  @ApiProperty({
    description: 'Enable or disable; enabling an endpoint the service disabled (410, failing) clears its reason.',
    example: true,
  })
  enabled?: boolean;
}

export class WebhookEndpointDto {
  @ApiProperty({ example: '5c1d8e2a-3b4f-4a6e-9d7c-8b2a1f0e3d4c' }) id: string;
  @ApiProperty({ example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' }) partner_id: string;
  @ApiProperty({ example: 'https://hooks.acme.com/thrad' }) url: string;
  @ApiProperty({ example: ['conversion.created'], enum: WEBHOOK_EVENTS, isArray: true }) events: string[];
  @ApiProperty({ example: true }) enabled: boolean;
  @ApiProperty({
    example: null,
    nullable: true,
    type: String,
    enum: ['gone', 'failing'],
    description: 'Why the service disabled it: `gone` (the endpoint answered 410) or `failing` (failing for 24 h).',
  })
  disabled_reason: string | null;
  @ApiProperty({
    example: null,
    nullable: true,
    type: String,
    description: 'While a rotated-out secret still signs (both signatures are sent): until when.',
  })
  previous_secret_expires_at: string | null;
  @ApiProperty({ example: '2026-05-26T12:00:00.000Z' }) created_at: string;
  @ApiProperty({ example: '2026-05-26T12:00:00.000Z' }) updated_at: string;
}

export class CreatedWebhookEndpointDto extends WebhookEndpointDto {
  @ApiProperty({
    description: 'The signing secret (Standard Webhooks `whsec_…`). Shown only in this response: keep it.',
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYq=',
  })
  secret: string;
}

export class WebhookEndpointListDto {
  @ApiProperty({ type: [WebhookEndpointDto] }) items: WebhookEndpointDto[];
}

export class ListDeliveriesQueryDto {
  @Optional()
  @IntQuery({ min: 1, max: 500 })
  @ApiProperty({ description: 'Page size, 1 to 500.', example: 50, default: 50 })
  limit?: string;

  @Optional()
  @Str({ max: 200, min: 1 })
  @ApiProperty({
    description: 'Opaque: the `next_cursor` of the previous page, unchanged.',
    example: 'MjAyNi0wNS0yNlQxMjozNDo1Ni4wMDBafDNkMGY2YThl',
  })
  cursor?: string;
}

export class WebhookDeliveryDto {
  @ApiProperty({ example: '7a1e2d3c-4b5a-4968-8776-655443322110' }) id: string;
  @ApiProperty({ example: 'msg_2f1c0e9d8b7a49e6a5d4c3b2a1f0e9d8', description: 'The webhook-id header.' })
  message_id: string;
  @ApiProperty({ example: 'conversion.created' }) type: string;
  @ApiProperty({ example: '3d0f6a8e-2b1c-4f5d-9e7a-6c8b1d2e3f40' }) conversion_id: string;
  @ApiProperty({ example: 'clk_xyz' }) click_id: string;
  @ApiProperty({ example: 1, description: 'Attempt number of this message (replays continue the count).' })
  attempt: number;
  @ApiProperty({ example: '2026-05-26T12:34:57.300Z' }) attempted_at: string;
  @ApiProperty({ example: 200, nullable: true, type: Number, description: 'Null when no HTTP answer arrived.' })
  status_code: number | null;
  @ApiProperty({ example: 42 }) latency_ms: number;
  @ApiProperty({ example: null, nullable: true, type: String }) error: string | null;
  @ApiProperty({
    example: null,
    nullable: true,
    type: String,
    description: 'When the message is tried next; null once delivered or given up.',
  })
  next_attempt_at: string | null;
}

export class WebhookDeliveryPageDto {
  @ApiProperty({ type: [WebhookDeliveryDto] }) items: WebhookDeliveryDto[];
  @ApiProperty({ example: null, nullable: true, type: String }) next_cursor: string | null;
}

export class ReplayWebhookDto {
  @Optional()
  @Str({ max: 40, min: 1 })
  @ApiProperty({
    description: 'Send this message again (its webhook-id stays the same).',
    example: 'msg_2f1c0e9d8b7a49e6a5d4c3b2a1f0e9d8',
  })
  message_id?: string;

  @Optional()
  @DateTime()
  @ApiProperty({
    description: 'Send again every message of this endpoint since this time.',
    example: '2026-05-26T00:00:00Z',
  })
  since?: string;
}

export class ReplayResultDto {
  @ApiProperty({
    example: 3,
    description: 'Messages scheduled to be sent again now (held until it is enabled again, for a disabled endpoint).',
  })
  replayed: number;
}

export class RotatedWebhookSecretDto {
  @ApiProperty({ example: '5c1d8e2a-3b4f-4a6e-9d7c-8b2a1f0e3d4c' }) id: string;
  @ApiProperty({
    description: 'The new secret, shown only here.',
    example: 'whsec_Q2hhbmdlZCBzZWNyZXQgYnl0ZXMgZm9yIGRlbW8hIQ==',
  })
  secret: string;
  @ApiProperty({
    example: '2026-05-27T12:00:00.000Z',
    description: 'Until then the old secret signs too (two signatures in webhook-signature).',
  })
  previous_secret_expires_at: string;
}

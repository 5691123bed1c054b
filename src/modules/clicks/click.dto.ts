import { ApiProperty } from '@nestjs/swagger';
import { DateTime, HttpUrl, Optional, Required, Str } from '../../common/validation';

export class RegisterClickDto {
  @Optional()
  @Str({ max: 255, min: 1 })
  @ApiProperty({
    description: 'Your id for the click; generated as clk_… when absent.',
    example: 'clk_xyz',
  })
  click_id?: string;

  @Required()
  @Str({ max: 36, min: 1 })
  @ApiProperty({
    description: 'The tag (and so the partner) the click belongs to.',
    example: '6f1c2d4e-0a8b-4c1e-9d2f-3b5a7c9e1f00',
  })
  tag_id: string;

  @Optional()
  @Str({ max: 255, min: 1 })
  @ApiProperty({
    description: 'The bid that won the impression; may be attached later with PATCH.',
    example: 'bid_42',
  })
  bid_id?: string;

  @Optional()
  @DateTime()
  @ApiProperty({
    description: 'When the click happened (ISO-8601; UTC when no offset). Defaults to now.',
    example: '2026-05-26T12:00:00Z',
  })
  clicked_at?: string;

  @Optional()
  @HttpUrl(2048)
  @ApiProperty({
    description: 'The landing URL the click led to.',
    example: 'https://shop.example.com/p/1',
  })
  landing_url?: string;
}

export class AttachBidDto {
  @Required()
  @Str({ max: 255, min: 1 })
  @ApiProperty({ description: 'The bid id to attribute the click to.', example: 'bid_42' })
  bid_id: string;
}

export class ClickView {
  @ApiProperty({ example: 'clk_xyz' }) click_id: string;
  @ApiProperty({ example: '6f1c2d4e-0a8b-4c1e-9d2f-3b5a7c9e1f00' }) tag_id: string;
  @ApiProperty({ example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' }) partner_id: string;
  @ApiProperty({ example: 'bid_42', nullable: true, type: String }) bid_id: string | null;
  @ApiProperty({ example: '2026-05-26T12:00:00.000Z' }) clicked_at: string;
  @ApiProperty({ example: 'https://shop.example.com/p/1', nullable: true, type: String }) landing_url: string | null;
  @ApiProperty({ example: '2026-05-26T12:00:00.120Z' }) created_at: string;
}

export class SignedClickView extends ClickView {
  @ApiProperty({
    description:
      'What the Tag sends back with a conversion: `<key id>.<base64url HMAC-SHA256>` over the click id and `exp`.',
    example: 'kAb12Cd3.Qm9ndXNTaWduYXR1cmVGb3JEb2NzT25seUFBQUFBQUFBQUFBQUE',
  })
  sig: string;

  @ApiProperty({
    description: 'When the click stops being attributable (Unix seconds): clicked_at + CLICK_TTL (default 30 days).',
    example: 1782475200,
  })
  exp: number;
}

/** GET /c: the click redirect's query. */
export class ClickRedirectQueryDto {
  @Required()
  @Str({ max: 36, min: 1 })
  @ApiProperty({ description: 'The tag the ad belongs to.', example: '6f1c2d4e-0a8b-4c1e-9d2f-3b5a7c9e1f00' })
  tag_id: string;

  @Optional()
  @Str({ max: 255, min: 1 })
  @ApiProperty({
    description:
      'The bid that won the impression (may be attached later with the ingest key). A link carrying one must be signed (`sig`).',
    example: 'bid_42',
  })
  bid_id?: string;

  @Required()
  @HttpUrl(2048)
  @ApiProperty({
    description: "The advertiser's landing page. Its origin must be one of the tag's allowed_origins.",
    example: 'https://shop.example.com/p/1?utm_source=thrad',
  })
  url: string;

  @Optional()
  @Str({ max: 128, min: 1 })
  @ApiProperty({
    description:
      "The ad server's link signature: base64url (no padding) HMAC-SHA256 with LINK_SIGNING_SECRET over " +
      '`"thrad-link-v1\\n" + tag_id + "\\n" + (bid_id or "") + "\\n" + url`. Required with `bid_id`; checked whenever present.',
    example: 'Qm9ndXNMaW5rU2lnbmF0dXJlRm9yRG9jc09ubHlBQUE',
  })
  sig?: string;
}

/**
 * The one catalogue of refusal reasons: what each means, in words a support agent can read back
 * to an advertiser, and what to do about it. Diagnostics (explain, summaries, alerts) reads it.
 */
export interface RefusalReason {
  /** What the API answered, e.g. `Click not found`. */
  label: string;
  /** The suggested fix. */
  advice: string;
}

export const REFUSAL_REASONS: Record<string, RefusalReason> = {
  click_not_found: {
    label: 'Click not found',
    advice: 'send the click id the Tag captured on landing (thrad_click_id), exactly as received, from your own tag',
  },
  click_missing_bid: {
    label: 'Click missing bid id',
    advice: 'the click was registered without a bid id: the ad server must attach one (PUT /api/clicks/{click_id}/bid)',
  },
  validation: {
    label: 'Invalid request body',
    advice: 'check the fields named in the 422 answer (loc) against the API reference',
  },
  json_invalid: {
    label: 'Malformed JSON',
    advice: 'send a valid UTF-8 JSON body with Content-Type: application/json',
  },
  precedes_click: {
    label: 'Conversion time before the click',
    advice: 'send the time of the sale itself, in UTC or with its offset',
  },
  outside_window: {
    label: 'Conversion outside the attribution window',
    advice: 'send conversions within the attribution window after the click',
  },
  future: {
    label: 'Conversion time in the future',
    advice: 'check the clock and time zone of the system that sends conversions',
  },
  rate_limited: {
    label: 'Too many requests',
    advice: 'slow down, honour Retry-After, or send conversions in batches (POST /api/conversions/batch)',
  },
  unavailable: {
    label: 'Service temporarily unavailable',
    advice: 'retry with the same Idempotency-Key after Retry-After: nothing was stored',
  },
  forbidden: {
    label: 'Not allowed',
    advice: "post from one of the tag's allowed origins, with a partner key",
  },
  payload_too_large: { label: 'Body too large', advice: 'send smaller bodies (or split a batch)' },
  unsupported_media_type: { label: 'Unsupported content type', advice: 'send Content-Type: application/json' },
};

export function reasonOf(code: string): RefusalReason {
  return REFUSAL_REASONS[code] ?? { label: code, advice: 'contact support with the request id' };
}

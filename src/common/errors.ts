/** A Pydantic-shaped validation error item, as the original service's clients expect. */
export interface ValidationIssue {
  type: string;
  loc: (string | number)[];
  msg: string;
  input: unknown;
  ctx?: Record<string, unknown>;
}

/** One error the service answers with: its status, its `detail` and the headers it always carries. */
export interface ErrorEntry {
  status: number;
  detail: string;
  headers?: Readonly<Record<string, string>>;
  /**
   * The failure's kind as a metric label (`conversions_total{outcome=...}`), when it is not the code:
   * a code split out of an older, broader one keeps that one's label, so dashboards see no change.
   */
  kind?: string;
}

const BEARER = { 'WWW-Authenticate': 'Bearer' } as const;

/**
 * Seconds a client should wait before retrying a 503. There is one retryable 503: the database
 * is unavailable or too slow, or a write lost a race more times than the repository retries. In
 * both cases nothing was acknowledged and the same request may succeed on retry.
 */
export const UNAVAILABLE_RETRY_AFTER_S = 2;

/**
 * The error catalogue: every error code, once, with its status, `detail` and fixed headers.
 * Services throw by code (`throw new AppError('click_not_found')`); `@ApiErrors` documents by code,
 * so the documented bodies are the ones sent. Bodies are the contract: change none lightly.
 */
export const ERRORS = {
  // Keys (ApiKeyGuard, AuthService) and the metrics token.
  missing_token: { status: 401, detail: 'Missing bearer token', headers: BEARER },
  invalid_api_key: { status: 401, detail: 'Invalid API key', headers: BEARER },
  forbidden: { status: 403, detail: 'This API key may not call this endpoint' },
  // The sandbox: test keys read and write test data only, live keys live data only.
  test_key_required: { status: 403, detail: 'Only a test key (thr_test_…) may call this endpoint', kind: 'forbidden' },
  mode_not_allowed: {
    status: 403,
    detail: "This API key reads only its own mode's data: a live key live data, a test key test data",
    kind: 'forbidden',
  },
  // The Tag: a signed click instead of a key, and CORS.
  invalid_click_signature: { status: 401, detail: 'Invalid click signature' },
  click_signature_expired: { status: 401, detail: 'Click signature expired', kind: 'invalid_click_signature' },
  click_origin_not_allowed: {
    status: 403,
    detail: "Origin not allowed for this click's tag",
    headers: { Vary: 'Origin' },
    kind: 'forbidden',
  },
  origin_not_allowed: { status: 403, detail: 'Origin not allowed', headers: { Vary: 'Origin' }, kind: 'forbidden' },
  // Clicks.
  unknown_tag: { status: 400, detail: 'Unknown tag', kind: 'bad_request' },
  destination_not_allowed: {
    status: 400,
    detail: "Destination origin is not one of the tag's allowed origins",
    kind: 'bad_request',
  },
  invalid_link_signature: { status: 400, detail: 'Invalid link signature', kind: 'bad_request' },
  click_not_found: { status: 404, detail: 'Click not found' },
  click_missing_bid: { status: 400, detail: 'Click missing bid id' },
  click_conflict: {
    status: 409,
    detail: 'A different click with this click_id is already registered',
    kind: 'conflict',
  },
  bid_conflict: { status: 409, detail: 'The click already has a different bid id', kind: 'conflict' },
  // Admin reads and writes.
  conversion_not_found: { status: 404, detail: 'Conversion not found', kind: 'not_found' },
  partner_not_found: { status: 404, detail: 'Partner not found', kind: 'not_found' },
  tag_not_found: { status: 404, detail: 'Tag not found', kind: 'not_found' },
  api_key_not_found: { status: 404, detail: 'API key not found', kind: 'not_found' },
  api_key_revoked: { status: 409, detail: 'The API key is revoked', kind: 'conflict' },
  api_key_expired: { status: 409, detail: 'The API key has expired', kind: 'conflict' },
  // Adjustments (issue 13), answered per item of POST /api/conversion/adjustments.
  already_retracted: { status: 409, detail: 'The conversion is already retracted', kind: 'conflict' },
  adjustment_precedes_conversion: {
    status: 409,
    detail: 'adjusted_at is before the conversion_time of the conversion',
    kind: 'conflict',
  },
  refund_exceeds_value: {
    status: 409,
    detail: "The refund would take the conversion's value below zero",
    kind: 'conflict',
  },
  order_id_ambiguous: {
    status: 409,
    detail: 'More than one conversion has this order_id and event_type: name it by conversion_id',
    kind: 'conflict',
  },
  // Not a refusal: the answer's warning when an adjustment was recorded but changes nothing (its status is never sent).
  more_recent_adjustment: {
    status: 409,
    detail: 'A more recent restatement already decides the total: recorded in the history, the total is unchanged',
    kind: 'conflict',
  },
  // Webhooks.
  webhook_not_found: { status: 404, detail: 'Webhook endpoint not found', kind: 'not_found' },
  webhook_message_not_found: { status: 404, detail: 'Webhook message not found', kind: 'not_found' },
  webhook_limit: { status: 409, detail: 'Too many webhook endpoints for this partner (at most 20)', kind: 'conflict' },
  // Answered by the framework (unknown route, body limit, content type); listed for the docs.
  not_found: { status: 404, detail: 'Not Found' },
  payload_too_large: { status: 413, detail: 'Request body is too large' },
  unsupported_media_type: { status: 415, detail: 'Unsupported Media Type' },
  // The body is a list of ValidationIssue (AppError.validation); this text is never sent.
  validation: { status: 422, detail: 'Validation error' },
  // Retry-After is the limiter's own window, set where it is thrown.
  rate_limited: { status: 429, detail: 'Too many requests' },
  unavailable: {
    status: 503,
    detail: 'Service temporarily unavailable, retry later',
    headers: { 'Retry-After': String(UNAVAILABLE_RETRY_AFTER_S) },
  },
} as const satisfies Record<string, ErrorEntry>;

export type ErrorCode = keyof typeof ERRORS;

/** The status each domain error code maps to. The exception filter is the only reader. */
export const STATUS_BY_CODE = Object.fromEntries(Object.entries(ERRORS).map(([c, e]) => [c, e.status])) as Record<
  ErrorCode,
  number
>;

/**
 * Services throw this; the exception filter turns it into `{"detail": ...}` with its status.
 * `detail` and `headers` default to the catalogue's; pass them only where they truly vary (a
 * validation list, a limiter's Retry-After, headers added on the way out).
 */
export class AppError extends Error {
  readonly detail: string | ValidationIssue[];
  readonly headers: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    detail?: string | ValidationIssue[],
    headers?: Record<string, string>,
  ) {
    const entry: ErrorEntry = ERRORS[code];
    const d = detail ?? entry.detail;
    super(typeof d === 'string' ? d : 'Validation error');
    this.detail = d;
    this.headers = headers ?? { ...entry.headers };
  }

  /** The metric label of the failure (see ErrorEntry.kind). */
  get kind(): string {
    return (ERRORS[this.code] as ErrorEntry).kind ?? this.code;
  }

  static validation(issues: ValidationIssue[]): AppError {
    return new AppError('validation', issues);
  }
}

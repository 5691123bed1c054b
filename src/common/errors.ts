/** A Pydantic-shaped validation error item, as the original service's clients expect. */
export interface ValidationIssue {
  type: string;
  loc: (string | number)[];
  msg: string;
  input: unknown;
  ctx?: Record<string, unknown>;
}

export type ErrorCode =
  | 'missing_token'
  | 'invalid_api_key'
  | 'forbidden'
  | 'bad_request'
  | 'invalid_click_signature'
  | 'not_found'
  | 'click_not_found'
  | 'click_missing_bid'
  | 'validation'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'conflict'
  | 'rate_limited'
  | 'unavailable';

/** The status each domain error code maps to. The exception filter is the only reader. */
export const STATUS_BY_CODE: Record<ErrorCode, number> = {
  missing_token: 401,
  invalid_api_key: 401,
  forbidden: 403,
  bad_request: 400,
  invalid_click_signature: 401,
  not_found: 404,
  click_not_found: 404,
  click_missing_bid: 400,
  validation: 422,
  payload_too_large: 413,
  unsupported_media_type: 415,
  conflict: 409,
  rate_limited: 429,
  unavailable: 503,
};

/** Services throw this; the exception filter turns it into `{"detail": ...}` with its status. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly detail: string | ValidationIssue[],
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof detail === 'string' ? detail : 'Validation error');
  }

  static validation(issues: ValidationIssue[]): AppError {
    return new AppError('validation', issues);
  }

  static notFound(what: string): AppError {
    return new AppError('not_found', `${what} not found`);
  }
}

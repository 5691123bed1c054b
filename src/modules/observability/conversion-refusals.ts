/**
 * The seam between the request hook that sees every conversion answer (HttpObservability) and
 * whoever keeps refused attempts (AttemptsRecorder). Optional: without a listener nothing is kept.
 */
export const CONVERSION_REFUSALS = Symbol('CONVERSION_REFUSALS');

export interface ConversionRefusalListener {
  /**
   * A conversion route answered `status` (not 200). `kind` is the failure kind the exception
   * filter left on the request; `payload` the answer body (`{detail}`) before serialisation.
   * Must return at once and never throw.
   */
  onRefused(request: unknown, source: string, status: number, kind: string | undefined, payload: unknown): void;
}

/** The spellings of a boolean Pydantic accepts from a query string (case-insensitive). */
const TRUE = new Set(['true', '1', 'yes', 'on', 't', 'y']);
const FALSE = new Set(['false', '0', 'no', 'off', 'f', 'n']);

/**
 * A boolean query parameter as text: true, false (also when absent: `def`), or undefined when it is
 * not a boolean (a repeated parameter, an empty or unknown value: the caller's 422 `bool_parsing`).
 */
export function parseBoolQuery(raw: unknown, def = false): boolean | undefined {
  if (raw === undefined) return def;
  if (typeof raw !== 'string' || raw.length > 5) return undefined;
  const v = raw.toLowerCase();
  return TRUE.has(v) ? true : FALSE.has(v) ? false : undefined;
}

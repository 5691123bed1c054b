const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "7d", "24h", "90m", "30s", "250ms" or a bare number of seconds into milliseconds. */
export function parseDuration(value: string): number | undefined {
  // Trimmed and bounded first; the pattern then has one way to match, so it cannot backtrack.
  const text = value.trim();
  if (text.length > 32) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text);
  if (!m) return undefined;
  const ms = Number(m[1]) * UNITS[m[2] ?? 's'];
  return Number.isFinite(ms) && ms > 0 ? Math.round(ms) : undefined;
}

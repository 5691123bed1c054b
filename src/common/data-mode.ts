/**
 * Live or test data (the sandbox, issue 12). A partner's test key writes test data only, reads test
 * data only, and its conversions are attributable only to test clicks (clicks/click-attribution.ts);
 * a live key never sees a test row. Test rows are purged after TEST_DATA_TTL (attempts/retention.ts).
 */
export const DATA_MODES = ['live', 'test'] as const;
export type DataMode = (typeof DATA_MODES)[number];

/** The events a webhook endpoint may subscribe to. */
export const WEBHOOK_EVENTS = ['conversion.created', 'conversion.adjusted', 'conversion.superseded', 'test'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

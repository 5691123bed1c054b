import { lookup as dnsLookup, LookupAddress, LookupOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { isForbiddenAddress } from './ssrf';

/** What one attempt came to. `status` is null when no HTTP answer arrived (network error, timeout, refused address). */
export interface SendResult {
  status: number | null;
  /** The Retry-After header of a 429 or 503, if any. */
  retryAfter?: string;
  latencyMs: number;
  error: string | null;
}

export interface SendOptions {
  timeoutMs: number;
  allowPrivate: boolean;
}

export class ForbiddenAddressError extends Error {
  readonly code = 'EWEBHOOKFORBIDDEN';
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * DNS resolution that refuses forbidden addresses at connect time: the address checked is the one
 * the socket connects to, so a name that resolves to a public address at registration and to a
 * private one later (DNS rebinding) is still refused.
 */
function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const list = addresses as LookupAddress[];
    const bad = list.find((a) => isForbiddenAddress(a.address));
    if (bad || list.length === 0) {
      return callback(
        new ForbiddenAddressError(`${hostname} resolves to a forbidden address (${bad?.address ?? 'none'})`),
        [],
      );
    }
    if (options.all) return callback(null, list);
    callback(null, list[0].address, list[0].family);
  });
}

const agents = {
  guarded: {
    http: new http.Agent({ keepAlive: true, maxSockets: 32, lookup: guardedLookup } as http.AgentOptions),
    https: new https.Agent({ keepAlive: true, maxSockets: 32, lookup: guardedLookup } as https.AgentOptions),
  },
  open: {
    http: new http.Agent({ keepAlive: true, maxSockets: 32 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 32 }),
  },
};

/** Closes the pooled sockets (on shutdown). */
export function closeSenderAgents(): void {
  for (const a of [agents.guarded.http, agents.guarded.https, agents.open.http, agents.open.https]) a.destroy();
}

/**
 * POSTs one message. No redirect is followed (a 3xx is a failure like any other non-2xx); the
 * whole attempt (connect, send, answer) is bounded by `timeoutMs`; the answer's body is read and
 * discarded, at most 64 KiB of it.
 */
export function sendWebhook(
  url: string,
  headers: Record<string, string>,
  body: string,
  opts: SendOptions,
): Promise<SendResult> {
  const started = performance.now();
  const done = (r: Omit<SendResult, 'latencyMs'>): SendResult => ({
    ...r,
    latencyMs: Math.round(performance.now() - started),
  });
  return new Promise((resolve) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return resolve(done({ status: null, error: 'invalid URL' }));
    }
    const host = u.hostname.replace(/^\[|\]$/g, '');
    if (!opts.allowPrivate && isIP(host) !== 0 && isForbiddenAddress(host)) {
      return resolve(done({ status: null, error: `forbidden address ${host}` }));
    }
    const isHttps = u.protocol === 'https:';
    const agent = (opts.allowPrivate ? agents.open : agents.guarded)[isHttps ? 'https' : 'http'];
    const payload = Buffer.from(body, 'utf8');
    let settled = false;
    const finish = (r: Omit<SendResult, 'latencyMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(done(r));
    };
    const req = (isHttps ? https : http).request(u, {
      method: 'POST',
      agent,
      headers: {
        ...headers,
        'content-type': 'application/json',
        'content-length': String(payload.length),
        'user-agent': 'thrad-webhooks/1',
      },
    });
    const timer = setTimeout(() => {
      finish({ status: null, error: `timeout after ${opts.timeoutMs} ms` });
      req.destroy();
    }, opts.timeoutMs);
    req.on('response', (res) => {
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > 65_536) res.destroy();
      });
      const status = res.statusCode ?? 0;
      const retryAfter = res.headers['retry-after'];
      const end = () =>
        finish({
          status,
          ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
          error: status >= 200 && status < 300 ? null : status >= 300 && status < 400 ? 'redirect not followed' : null,
        });
      res.on('end', end);
      res.on('close', end);
      res.on('error', end);
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      const msg = e instanceof ForbiddenAddressError ? e.message : `${e.code ?? 'error'}: ${e.message}`;
      finish({ status: null, error: msg.slice(0, 500) });
    });
    req.end(payload);
  });
}

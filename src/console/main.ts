/**
 * The support console: plain TypeScript and DOM, built by esbuild into dist/console/app.js
 * (src/console/build.js) and served at /console under a strict CSP (no inline script or style:
 * every node is made here, text only through textContent). Every call goes through the typed
 * client (src/client). The key lives in this module's memory only: never in storage or a cookie,
 * so it is gone when the tab closes or reloads.
 */
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from 'chart.js';
import { createThradClient, type Schemas } from '../client';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

type Conversion = Schemas['ConversionItemDto'];
type Explain = Schemas['ExplainDto'];
type Summary = Schemas['DiagnosticsSummaryDto'];
type Partner = Schemas['PartnerStateDto'];
type Filters = {
  click_id?: string;
  order_id?: string;
  partner_id?: string;
  event_type?: string;
  source?: 'api' | 'tag';
  from?: string;
  to?: string;
};

const state: {
  key?: string;
  partners: Partner[];
  filters: Filters;
  cursors: (string | undefined)[];
  charts: Chart[];
} = { partners: [], filters: {}, cursors: [undefined], charts: [] };

const client = createThradClient({ baseUrl: '', apiKey: () => state.key, retry: { attempts: 3 } });
const api = client.api;

// ---------------------------------------------------------------- DOM helpers

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | boolean | undefined | ((e: Event) => void)>;

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

const main = () => document.getElementById('main')!;
let uid = 0;
function field(label: string, control: HTMLInputElement | HTMLSelectElement): HTMLElement {
  control.id ||= `f${++uid}`;
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
}
function input(name: string, attrs: Attrs = {}): HTMLInputElement {
  return h('input', { name, autocomplete: 'off', spellcheck: 'false', ...attrs });
}
function message(kind: 'error' | 'note', text: string): HTMLElement {
  return h('p', { class: `msg ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}
function time(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? iso
    : d
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
}
function errorText(res: { response: Response; error?: unknown }): string {
  const d = (res.error as { detail?: unknown } | undefined)?.detail;
  if (typeof d === 'string') return `${res.response.status}: ${d}`;
  if (Array.isArray(d))
    return `${res.response.status}: ${d.map((x: { loc?: unknown[]; msg?: string }) => `${(x.loc ?? []).join('.')} ${x.msg ?? ''}`).join('; ')}`;
  return `HTTP ${res.response.status}`;
}
function table(head: string[], rows: Child[][], caption?: string): HTMLElement {
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      {},
      caption ? h('caption', { class: 'muted' }, caption) : null,
      h('thead', {}, h('tr', {}, ...head.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c))))),
    ),
  );
}
function partnerName(id: string | null | undefined): string {
  if (!id) return '—';
  return state.partners.find((p) => p.id === id)?.name ?? id;
}
function partnerSelect(name: string, any: string | null, selected?: string): HTMLSelectElement {
  const s = h('select', { name });
  if (any !== null) s.append(h('option', { value: '' }, any));
  for (const p of state.partners)
    s.append(h('option', { value: p.id, selected: p.id === selected }, `${p.name} (${p.id.slice(0, 8)})`));
  return s;
}

// ---------------------------------------------------------------- sign-in

function renderSignIn(note?: HTMLElement): void {
  state.key = undefined;
  document.getElementById('who')!.hidden = true;
  const key = input('key', { type: 'password', required: true, autocomplete: 'off' });
  const out = h('div', { 'aria-live': 'polite' }, note);
  const form = h(
    'form',
    { class: 'signin', 'aria-labelledby': 'signin-title', onsubmit: (e: Event) => void signIn(e, key, out) },
    field('Support or admin API key', key),
    h(
      'p',
      { class: 'muted' },
      'The key is kept in this tab’s memory only, never stored: reloading or closing the tab signs you out. Partner and ingest keys cannot sign in.',
    ),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Sign in')),
  );
  main().replaceChildren(h('section', { class: 'card' }, h('h2', { id: 'signin-title' }, 'Sign in'), form, out));
  key.focus();
}

async function signIn(e: Event, keyInput: HTMLInputElement, out: HTMLElement): Promise<void> {
  e.preventDefault();
  const key = keyInput.value.trim();
  if (!key) return;
  state.key = key;
  out.replaceChildren(message('note', 'Checking the key…'));
  const res = await api.GET('/admin/partners');
  if (res.data) {
    state.partners = res.data.items;
    keyInput.value = '';
    document.getElementById('who')!.hidden = false;
    document.getElementById('who-text')!.textContent = `Signed in with key …${key.slice(-4)}`;
    renderApp('search');
    return;
  }
  let text = errorText(res);
  if (res.response.status === 401) text = 'This key is not valid (unknown or revoked).';
  if (res.response.status === 403) {
    // Which kind of key is it? A partner key may read its own diagnostics.
    const partner = await api.GET('/api/diagnostics/summary', { params: { query: { days: 1 } } });
    text = partner.data
      ? 'This is a partner key: partner keys cannot sign in to the support console. Use a support or admin key.'
      : 'This key may not read the admin API (an ingest key?). Use a support or admin key.';
  }
  state.key = undefined;
  out.replaceChildren(message('error', text));
  keyInput.select();
}

// ---------------------------------------------------------------- the app shell

type View = 'search' | 'timeline' | 'health' | 'test-events';
const VIEWS: [View, string][] = [
  ['search', 'Search conversions'],
  ['timeline', 'Click timeline'],
  ['health', 'Partner health'],
  ['test-events', 'Test events'],
];

function renderApp(view: View, arg?: string): void {
  for (const c of state.charts.splice(0)) c.destroy();
  const nav = h(
    'nav',
    { class: 'tabs', 'aria-label': 'Views' },
    ...VIEWS.map(([v, label]) =>
      h(
        'button',
        { type: 'button', 'aria-current': v === view ? 'page' : undefined, onclick: () => renderApp(v) },
        label,
      ),
    ),
  );
  const body = h('div', {});
  main().replaceChildren(nav, body);
  if (view === 'search') renderSearch(body);
  if (view === 'timeline') renderTimeline(body, arg);
  if (view === 'health') renderHealth(body, arg);
  if (view === 'test-events') renderTestEvents(body);
  const heading = body.querySelector('h2');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    (heading as HTMLElement).focus();
  }
}

// ---------------------------------------------------------------- search

function renderSearch(root: HTMLElement): void {
  const f = state.filters;
  const clickId = input('click_id', { value: f.click_id ?? '', placeholder: 'clk_…' });
  const orderId = input('order_id', { value: f.order_id ?? '' });
  const partner = partnerSelect('partner_id', 'Any partner', f.partner_id);
  const eventType = input('event_type', { value: f.event_type ?? '', placeholder: 'purchase_completed' });
  const source = h(
    'select',
    { name: 'source' },
    h('option', { value: '' }, 'Any source'),
    h('option', { value: 'api', selected: f.source === 'api' }, 'api (partner backend)'),
    h('option', { value: 'tag', selected: f.source === 'tag' }, 'tag (browser)'),
  );
  const from = input('from', { type: 'datetime-local', step: '1', value: toLocalInput(f.from) });
  const to = input('to', { type: 'datetime-local', step: '1', value: toLocalInput(f.to) });
  const results = h('div', { 'aria-live': 'polite', id: 'search-results' });
  const read = (): Filters => ({
    click_id: clickId.value || undefined,
    order_id: orderId.value || undefined,
    partner_id: partner.value || undefined,
    event_type: eventType.value || undefined,
    source: (source.value || undefined) as Filters['source'],
    from: from.value ? new Date(from.value).toISOString() : undefined,
    to: to.value ? new Date(to.value).toISOString() : undefined,
  });
  const form = h(
    'form',
    {
      class: 'fields',
      'aria-label': 'Conversion filters',
      onsubmit: (e: Event) => {
        e.preventDefault();
        state.filters = read();
        state.cursors = [undefined];
        void runSearch(results);
      },
    },
    field('Click id', clickId),
    field('Order id', orderId),
    field('Partner', partner),
    field('Event type', eventType),
    field('Source', source),
    field('From (your local time)', from),
    field('To (your local time)', to),
    h('button', { type: 'submit', class: 'primary' }, 'Search'),
  );
  const exportButton = h(
    'button',
    {
      type: 'button',
      onclick: () => {
        state.filters = read();
        void exportCsv(results);
      },
    },
    'Export this filter to CSV',
  );
  root.append(
    h(
      'section',
      { class: 'card' },
      h('h2', {}, 'Search conversions'),
      form,
      h('div', { class: 'actions' }, exportButton, h('span', { class: 'muted' }, 'Newest conversion time first.')),
      results,
    ),
  );
  if (state.cursors.length > 1 || Object.values(f).some(Boolean)) void runSearch(results);
}

function toLocalInput(iso?: string): string {
  if (!iso) return '';
  const d = new Date(iso);
  const local = new Date(d.getTime() - d.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 19);
}

async function runSearch(out: HTMLElement): Promise<void> {
  const cursor = state.cursors[state.cursors.length - 1];
  out.replaceChildren(message('note', 'Searching…'));
  const res = await api.GET('/admin/conversions', {
    params: { query: { ...state.filters, limit: 25, cursor } },
  });
  if (!res.data) {
    out.replaceChildren(message('error', errorText(res)));
    return;
  }
  const { items, next_cursor } = res.data;
  const page = state.cursors.length;
  const rows = items.map((c: Conversion) => [
    time(c.conversion_time),
    partnerName(c.partner_id),
    h(
      'button',
      {
        type: 'button',
        class: 'link',
        'aria-label': `Open the timeline of click ${c.click_id}`,
        onclick: () => renderApp('timeline', c.click_id),
      },
      c.click_id,
    ),
    c.order_id ?? '—',
    c.event_type,
    `${c.conversion_value} ${c.currency}`,
    c.source,
    c.attribution_status ?? '—',
    h('code', {}, c.id.slice(0, 8)),
  ]);
  const older = h(
    'button',
    {
      type: 'button',
      disabled: !next_cursor,
      onclick: () => {
        state.cursors.push(next_cursor!);
        void runSearch(out);
      },
    },
    'Older →',
  );
  const newer = h(
    'button',
    {
      type: 'button',
      disabled: page === 1,
      onclick: () => {
        state.cursors.pop();
        void runSearch(out);
      },
    },
    '← Newer',
  );
  out.replaceChildren(
    items.length
      ? table(
          ['Conversion time', 'Partner', 'Click', 'Order', 'Event type', 'Value', 'Source', 'Attribution', 'Id'],
          rows,
          `Page ${page}: ${items.length} conversion${items.length === 1 ? '' : 's'}`,
        )
      : message('note', 'No conversion matches these filters.'),
    h('div', { class: 'actions' }, newer, older),
  );
}

async function exportCsv(out: HTMLElement): Promise<void> {
  const res = await api.GET('/admin/conversions/export.csv', {
    params: { query: state.filters },
    parseAs: 'blob',
  });
  if (!res.data) {
    out.prepend(message('error', `Export failed: ${res.response.status}`));
    return;
  }
  const url = URL.createObjectURL(res.data as Blob);
  const a = h('a', { href: url, download: 'conversions.csv', hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---------------------------------------------------------------- click timeline

interface TimelineEntry {
  at: string | null;
  kind: string;
  title: string;
  details: Record<string, unknown>;
}

function renderTimeline(root: HTMLElement, clickIdArg?: string): void {
  const clickId = input('click_id', { value: clickIdArg ?? '', placeholder: 'clk_…' });
  const orderId = input('order_id');
  const partner = partnerSelect('partner_id', 'Partner (with an order id)');
  const out = h('div', { 'aria-live': 'polite', id: 'timeline-out' });
  const form = h(
    'form',
    {
      class: 'fields',
      'aria-label': 'Which click',
      onsubmit: (e: Event) => {
        e.preventDefault();
        void runExplain(out, clickId.value, orderId.value, partner.value);
      },
    },
    field('Click id (exactly as sent)', clickId),
    field('or order id', orderId),
    field('and its partner', partner),
    h('button', { type: 'submit', class: 'primary' }, 'Explain'),
  );
  root.append(h('section', { class: 'card' }, h('h2', {}, 'Click timeline'), form, out));
  if (clickIdArg) void runExplain(out, clickIdArg, '', '');
}

async function runExplain(out: HTMLElement, clickId: string, orderId: string, partnerId: string): Promise<void> {
  const query = clickId
    ? { click_id: clickId }
    : { order_id: orderId || undefined, partner_id: partnerId || undefined };
  out.replaceChildren(message('note', 'Reading the whole story…'));
  const res = await api.GET('/admin/explain', { params: { query } });
  if (!res.data) {
    out.replaceChildren(message('error', errorText(res)));
    return;
  }
  out.replaceChildren(...explainView(res.data));
}

const KNOWN_PARTS = new Set([
  'subject',
  'summary',
  'checks',
  'click',
  'conversions',
  'dedup_claims',
  'refused_attempts',
  'duplicates',
  'not_recorded',
]);

/** The time an unknown part's entry happened at: its `at`, else the first `…_at` field. */
function entryTime(o: Record<string, unknown>): string | null {
  if (typeof o.at === 'string') return o.at;
  for (const [k, v] of Object.entries(o)) if (k.endsWith('_at') && typeof v === 'string') return v;
  return null;
}

function explainView(doc: Explain): Node[] {
  const entries: TimelineEntry[] = [];
  const c = doc.click;
  if (c?.found)
    entries.push({
      at: c.clicked_at,
      kind: 'click',
      title: `Click ${c.click_id} registered`,
      details: {
        partner: partnerName(c.partner_id),
        tag: c.tag_id,
        bid_id: c.bid_id,
        landing_url: c.landing_url,
        signature_valid_until: c.signature_valid_until,
      },
    });
  for (const a of doc.refused_attempts)
    entries.push({
      at: a.at,
      kind: 'refused_attempt',
      title: `Refused ${a.status}: ${a.reason_label}`,
      details: {
        source: a.source,
        reason: a.reason,
        advice: a.advice,
        error_loc: a.error_loc,
        error_type: a.error_type,
        order_id: a.order_id,
        event_id: a.event_id,
        event_type: a.event_type,
        request_id: a.request_id,
      },
    });
  for (const d of doc.duplicates ?? [])
    entries.push({
      at: d.at,
      kind: 'duplicate',
      title: `Answered duplicate${d.matched_on ? ` (same ${d.matched_on})` : ''}: nothing new stored`,
      details: {
        retry_of: d.conversion_id,
        source: d.source,
        order_id: d.order_id,
        event_id: d.event_id,
        event_type: d.event_type,
        request_id: d.request_id,
      },
    });
  for (const v of doc.conversions)
    entries.push({
      at: v.created_at,
      kind: 'conversion',
      title: `Conversion stored: ${v.conversion_value} ${v.currency} (${v.event_type}, ${v.source})`,
      details: {
        id: v.id,
        conversion_time: v.conversion_time,
        order_id: v.order_id,
        event_id: v.event_id,
        dedup_key: v.dedup_key,
        dedup_layer: v.dedup_layer,
        ...Object.fromEntries(
          Object.entries(v).filter(
            ([k]) =>
              ![
                'id',
                'source',
                'event_type',
                'conversion_value',
                'currency',
                'conversion_time',
                'created_at',
                'order_id',
                'event_id',
                'dedup_key',
                'dedup_layer',
              ].includes(k),
          ),
        ),
      },
    });
  // Parts this console does not know yet (adjustments, webhook deliveries, …): shown generically.
  for (const [part, value] of Object.entries(doc as unknown as Record<string, unknown>)) {
    if (KNOWN_PARTS.has(part) || !Array.isArray(value)) continue;
    const kind = part.endsWith('ies') ? `${part.slice(0, -3)}y` : part.replace(/s$/, '');
    for (const item of value) {
      if (!item || typeof item !== 'object') continue;
      const o = item as Record<string, unknown>;
      entries.push({ at: entryTime(o), kind, title: kind.replace(/_/g, ' '), details: o });
    }
  }
  entries.sort((x, y) => (x.at ?? '').localeCompare(y.at ?? ''));

  const nodes: Node[] = [
    h('p', { class: 'summary', id: 'explain-summary' }, doc.summary),
    h('h3', {}, 'Checks'),
    h(
      'ul',
      { class: 'checks' },
      ...doc.checks.map((k) =>
        h(
          'li',
          {},
          h('span', { class: `verdict ${k.verdict}` }, k.verdict),
          h('span', {}, h('strong', {}, k.check.replace(/_/g, ' ')), ': ', k.message),
        ),
      ),
    ),
    h('h3', {}, 'Timeline'),
    entries.length
      ? h(
          'ol',
          { class: 'timeline', 'aria-label': 'Timeline, oldest first' },
          ...entries.map((e) =>
            h(
              'li',
              { class: `kind-${e.kind}`, 'data-kind': e.kind },
              h('div', { class: 'when' }, time(e.at)),
              h('div', {}, h('span', { class: 'kind' }, e.kind.replace(/_/g, ' ')), e.title),
              kv(e.details),
            ),
          ),
        )
      : message('note', 'Nothing happened on this click that the service keeps.'),
  ];
  if (doc.dedup_claims.length)
    nodes.push(
      h('h3', {}, 'Dedup keys held'),
      table(
        ['Key', 'Event type', 'Layer', 'Holder', 'First seen', 'Window ends', 'Active'],
        doc.dedup_claims.map((d) => [
          h('code', {}, d.dedup_key),
          d.event_type,
          d.layer ?? '—',
          h('code', {}, d.holder_conversion_id.slice(0, 8)),
          time(d.first_seen_at),
          time(d.window_ends_at),
          d.active ? 'yes' : 'no',
        ]),
      ),
    );
  if (doc.not_recorded.length)
    nodes.push(
      h('h3', {}, 'Not recorded'),
      h('ul', {}, ...doc.not_recorded.map((n) => h('li', { class: 'muted' }, n))),
    );
  return nodes;
}

function kv(o: Record<string, unknown>): HTMLElement | null {
  const pairs = Object.entries(o).filter(([, v]) => v !== null && v !== undefined && v !== '');
  if (!pairs.length) return null;
  return h(
    'dl',
    { class: 'kv' },
    ...pairs.flatMap(([k, v]) => [
      h('dt', {}, k.replace(/_/g, ' ')),
      h('dd', {}, typeof v === 'object' ? JSON.stringify(v) : String(v)),
    ]),
  );
}

// ---------------------------------------------------------------- partner health

const PALETTE = ['#b42318', '#9a6700', '#6941c6', '#0b5cad', '#c4320a', '#087443', '#475467', '#c11574', '#155eef'];

function renderHealth(root: HTMLElement, partnerArg?: string): void {
  const partner = partnerSelect('partner_id', null, partnerArg ?? state.partners[0]?.id);
  const out = h('div', { 'aria-live': 'polite', id: 'health-out' });
  const form = h(
    'form',
    {
      class: 'fields',
      'aria-label': 'Which partner',
      onsubmit: (e: Event) => {
        e.preventDefault();
        void runHealth(out, partner.value);
      },
    },
    field('Partner', partner),
    h('button', { type: 'submit', class: 'primary' }, 'Show the last 14 days'),
  );
  root.append(h('section', { class: 'card' }, h('h2', {}, 'Partner health'), form, out));
  if (!state.partners.length) out.append(message('note', 'There is no partner yet.'));
  else void runHealth(out, partner.value);
}

async function runHealth(out: HTMLElement, partnerId: string): Promise<void> {
  for (const c of state.charts.splice(0)) c.destroy();
  out.replaceChildren(message('note', 'Loading…'));
  const res = await api.GET('/admin/partners/{partner_id}/diagnostics', {
    params: { path: { partner_id: partnerId }, query: { days: 14 } },
  });
  if (!res.data) {
    out.replaceChildren(message('error', errorText(res)));
    return;
  }
  const s: Summary = res.data;
  const labels = s.daily.map((d) => d.date.slice(5));
  const reasons = [...new Set(s.daily.flatMap((d) => Object.keys(d.refused_by_reason)))].sort();
  const outcomes = chartFigure('outcomes', 'Daily outcomes (UTC days)');
  const refusals = chartFigure('refusals', 'Refusal reasons per day');
  const totals = { ok: 0, refused: 0 };
  for (const d of s.daily) {
    totals.ok += d.ok;
    totals.refused += d.refused;
  }
  out.replaceChildren(
    h(
      'p',
      { id: 'health-totals' },
      `${partnerName(s.partner_id)}, last ${s.days} days: ${totals.ok} stored, ${totals.refused} refused.`,
    ),
    s.alerts.length
      ? h(
          'div',
          { role: 'list', 'aria-label': 'Alerts' },
          ...s.alerts.map((a) => h('p', { class: 'msg error', role: 'listitem' }, a.message)),
        )
      : message('note', 'No alert: no refusal reason dominates the last 24 hours.'),
    h('div', { class: 'charts' }, outcomes.figure, refusals.figure),
    h('h3', {}, 'The figures'),
    table(
      ['Day', 'Stored', 'Refused', 'Success rate', 'Refused by reason'],
      s.daily.map((d) => [
        d.date,
        String(d.ok),
        String(d.refused),
        d.success_rate === null ? '—' : `${Math.round(d.success_rate * 1000) / 10}%`,
        Object.entries(d.refused_by_reason)
          .map(([r, n]) => `${r}: ${n}`)
          .join(', ') || '—',
      ]),
    ),
    ...(s.notes.length ? [h('ul', {}, ...s.notes.map((n) => h('li', { class: 'muted' }, n)))] : []),
  );
  const common = {
    responsive: true,
    maintainAspectRatio: false,
    animation: false as const,
    scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
  };
  state.charts.push(
    new Chart(outcomes.canvas, {
      type: 'bar',
      data: {
        labels,
        datasets: [
          { label: 'Stored', data: s.daily.map((d) => d.ok), backgroundColor: '#1a7f37' },
          { label: 'Refused', data: s.daily.map((d) => d.refused), backgroundColor: '#b42318' },
        ],
      },
      options: common,
    }),
    new Chart(refusals.canvas, {
      type: 'bar',
      data: {
        labels,
        datasets: reasons.map((r, i) => ({
          label: r,
          data: s.daily.map((d) => d.refused_by_reason[r] ?? 0),
          backgroundColor: PALETTE[i % PALETTE.length],
        })),
      },
      options: common,
    }),
  );
  outcomes.figure.dataset.points = String(totals.ok + totals.refused);
  refusals.figure.dataset.points = String(totals.refused);
}

function chartFigure(id: string, caption: string): { figure: HTMLElement; canvas: HTMLCanvasElement } {
  const canvas = h('canvas', {
    id: `chart-${id}`,
    role: 'img',
    'aria-label': `${caption}: the table below has the figures`,
  });
  const figure = h(
    'figure',
    { class: 'chart', id: `figure-${id}` },
    h('figcaption', {}, caption),
    h('div', { class: 'canvas-box' }, canvas),
  );
  return { figure, canvas };
}

// ---------------------------------------------------------------- test events

function renderTestEvents(root: HTMLElement): void {
  const partner = partnerSelect('partner_id', 'Any partner');
  const out = h('div', { 'aria-live': 'polite', id: 'test-events-out' });
  const form = h(
    'form',
    {
      class: 'fields',
      'aria-label': 'Test events filter',
      onsubmit: (e: Event) => {
        e.preventDefault();
        void runTestEvents(out, partner.value);
      },
    },
    field('Partner', partner),
    h('button', { type: 'submit', class: 'primary' }, 'List test events'),
  );
  root.append(
    h(
      'section',
      { class: 'card' },
      h('h2', {}, 'Test events'),
      h('p', { class: 'muted' }, 'Conversions sent in test mode (mode=test, the sandbox): newest first.'),
      form,
      out,
    ),
  );
  void runTestEvents(out, '');
}

async function runTestEvents(out: HTMLElement, partnerId: string): Promise<void> {
  out.replaceChildren(message('note', 'Loading…'));
  // Test data only: the listing never mixes modes, and each row says which it is.
  const query = { partner_id: partnerId || undefined, limit: 50, mode: 'test' as const };
  const res = await api.GET('/admin/conversions', { params: { query } });
  if (!res.data) {
    out.replaceChildren(message('error', errorText(res)));
    return;
  }
  const tests = res.data.items.filter((i) => i.mode === 'test');
  out.replaceChildren(
    tests.length
      ? table(
          ['Conversion time', 'Partner', 'Click', 'Order', 'Event type', 'Value'],
          tests.map((c) => [
            time(c.conversion_time),
            partnerName(c.partner_id),
            h(
              'button',
              { type: 'button', class: 'link', onclick: () => renderApp('timeline', c.click_id) },
              c.click_id,
            ),
            c.order_id ?? '—',
            c.event_type,
            `${c.conversion_value} ${c.currency}`,
          ]),
        )
      : message('note', 'No test event yet.'),
  );
}

// ---------------------------------------------------------------- boot

document.getElementById('sign-out')!.addEventListener('click', () => {
  state.partners = [];
  state.filters = {};
  state.cursors = [undefined];
  renderSignIn(message('note', 'Signed out: the key is forgotten.'));
});
renderSignIn();

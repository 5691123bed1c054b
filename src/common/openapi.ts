import { applyDecorators, INestApplication } from '@nestjs/common';
import { ApiResponse, DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { ErrorCode, ERRORS, UNAVAILABLE_RETRY_AFTER_S } from './errors';

const DETAIL = { type: 'object', required: ['detail'], properties: { detail: { type: 'string' } } };
const VALIDATION = {
  type: 'object',
  required: ['detail'],
  properties: {
    detail: {
      type: 'array',
      items: {
        type: 'object',
        required: ['type', 'loc', 'msg', 'input'],
        properties: {
          type: { type: 'string', example: 'missing' },
          loc: {
            type: 'array',
            items: { oneOf: [{ type: 'string' }, { type: 'integer' }] },
            example: ['body', 'click_id'],
          },
          msg: { type: 'string', example: 'Field required' },
          input: { description: 'The offending input, as sent.' },
          ctx: { type: 'object', additionalProperties: true },
        },
      },
    },
  },
};

/** Error bodies are JSON whatever the route produces when it succeeds (CSV, Prometheus text). */
function json(schema: object) {
  return { 'application/json': { schema } };
}

/** What each error status means, whichever code of the catalogue answers with it. */
const STATUS_DESCRIPTIONS: Record<number, string> = {
  400: 'The request cannot be served as sent.',
  401: 'No usable credential. Carries `WWW-Authenticate: Bearer`.',
  403: 'A valid key of a role that may not call this endpoint.',
  404: 'Not found.',
  409: 'Conflicts with what is stored.',
  413: 'Body over 64 KiB.',
  415: 'Content-Type is not application/json.',
  429: 'Rate limited; see Retry-After.',
  503: `Nothing was written (the database is unavailable or too slow); retry after Retry-After seconds (${UNAVAILABLE_RETRY_AFTER_S}).`,
};

/**
 * Documents the errors a route answers with, by catalogue code: the bodies shown are the ones
 * sent. Codes sharing a status are listed together in one response, the first as its example.
 */
export function ApiErrors(...codes: ErrorCode[]): MethodDecorator & ClassDecorator {
  const byStatus = new Map<number, string[]>();
  for (const code of codes) {
    const { status, detail } = ERRORS[code];
    const details = byStatus.get(status) ?? [];
    if (!details.includes(detail)) details.push(detail);
    byStatus.set(status, details);
  }
  return applyDecorators(
    ...[...byStatus].map(([status, details]) => {
      if (status === 422) {
        return ApiResponse({
          status,
          description: "Validation error, in Pydantic's shape (malformed JSON is `json_invalid`).",
          content: json({
            ...VALIDATION,
            example: { detail: [{ type: 'missing', loc: ['body', 'click_id'], msg: 'Field required', input: {} }] },
          }),
        });
      }
      return ApiResponse({
        status,
        description: `${STATUS_DESCRIPTIONS[status] ?? 'Error.'} Bodies: ${details.map((e) => `\`{"detail":"${e}"}\``).join(' or ')}.`,
        content: json({ ...DETAIL, example: { detail: details[0] } }),
      });
    }),
  );
}

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Thrad Conversion API')
    .setDescription(
      'Conversion tracking: advertiser backends post conversions tied to the ad click that brought the visitor. ' +
        'Errors are `{"detail": "..."}`; validation errors (422) are `{"detail": [{type, loc, msg, input, ctx?}]}`.',
    )
    .setVersion('1.0.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key: partner, ingest, support or admin.' })
    .build();
  return SwaggerModule.createDocument(app, config, {
    operationIdFactory: (_controllerKey: string, methodKey: string) => methodKey,
  });
}

export function setupSwagger(app: INestApplication): void {
  const document = buildOpenApiDocument(app);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}

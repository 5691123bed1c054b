import { applyDecorators, INestApplication } from '@nestjs/common';
import { ApiResponse, DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

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

const EXAMPLES: Record<number, { description: string; examples: string[] }> = {
  400: { description: 'The request cannot be served as sent.', examples: ['Click missing bid id'] },
  401: {
    description: 'No usable credential. Carries `WWW-Authenticate: Bearer`.',
    examples: ['Missing bearer token', 'Invalid API key'],
  },
  403: {
    description: 'A valid key of a role that may not call this endpoint.',
    examples: ['This API key may not call this endpoint'],
  },
  404: { description: 'Not found.', examples: ['Not Found'] },
  409: {
    description: 'Conflicts with what is stored.',
    examples: ['A different click with this click_id is already registered'],
  },
  413: { description: 'Body over 64 KiB.', examples: ['Request body is too large'] },
  415: { description: 'Content-Type is not application/json.', examples: ['Unsupported Media Type'] },
  429: { description: 'Rate limited; see Retry-After.', examples: ['Too many requests'] },
  503: {
    description: 'The database is unavailable; retry after Retry-After seconds.',
    examples: ['Service temporarily unavailable'],
  },
};

/** Documents error statuses with the contract's bodies; pass [status, detail] to override the example. */
export function ApiErrors(...statuses: (number | [number, ...string[]])[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...statuses.map((s) => {
      const [status, ...custom] = Array.isArray(s) ? s : [s];
      if (status === 422) {
        return ApiResponse({
          status,
          description: "Validation error, in Pydantic's shape (malformed JSON is `json_invalid`).",
          schema: {
            ...VALIDATION,
            example: { detail: [{ type: 'missing', loc: ['body', 'click_id'], msg: 'Field required', input: {} }] },
          },
        });
      }
      const base = EXAMPLES[status] ?? { description: 'Error', examples: ['Error'] };
      const examples = custom.length ? custom : base.examples;
      return ApiResponse({
        status,
        description: `${base.description} Bodies: ${examples.map((e) => `\`{"detail":"${e}"}\``).join(' or ')}.`,
        schema: { ...DETAIL, example: { detail: examples[0] } },
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

import { pinoOptions, prettyLogsByDefault } from './pino-options';

describe('log format', () => {
  it('is pretty by default in a terminal or when NODE_ENV=development is said, JSON otherwise', () => {
    expect(prettyLogsByDefault({}, true)).toBe(true);
    expect(prettyLogsByDefault({ NODE_ENV: 'development' }, false)).toBe(true);
    expect(prettyLogsByDefault({}, false)).toBe(false);
    expect(prettyLogsByDefault({ NODE_ENV: 'production' }, true)).toBe(false);
    expect(prettyLogsByDefault({ NODE_ENV: 'test' }, false)).toBe(false);
  });

  it('leaves an explicit LOG_FORMAT alone', () => {
    expect(prettyLogsByDefault({ LOG_FORMAT: 'json' }, true)).toBe(false);
    expect(prettyLogsByDefault({ LOG_FORMAT: 'json', NODE_ENV: 'development' }, true)).toBe(false);
  });

  it('pretty goes through the pino-pretty transport; json is an asynchronous stdout destination', () => {
    const pretty = pinoOptions({ logLevel: 'info', logFormat: 'pretty' });
    expect(Array.isArray(pretty)).toBe(false);
    expect(pretty).toMatchObject({ level: 'info', transport: { target: 'pino-pretty' } });
    const json = pinoOptions({ logLevel: 'warn', logFormat: 'json' });
    expect(Array.isArray(json)).toBe(true);
    expect((json as unknown[])[0]).toMatchObject({ level: 'warn' });
    expect((json as unknown[])[0]).not.toHaveProperty('transport');
  });
});

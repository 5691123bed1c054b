/**
 * A strict mock of a class, for unit specs that build a service by hand (as immich's service
 * specs do): every method of the class (and of its parents) is a jest.fn that throws until the
 * spec stubs it, so an unexpected call fails the test instead of quietly returning undefined.
 * A stub given with `mockResolvedValueOnce` is used once, then the method throws again.
 */
export type StrictMock<T> = jest.Mocked<T>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function strictMock<T extends object>(cls: abstract new (...args: any[]) => T): StrictMock<T> {
  const mock: Record<string, jest.Mock> = {};
  for (let proto = cls.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (key === 'constructor' || key in mock) continue;
      if (typeof Object.getOwnPropertyDescriptor(proto, key)?.value !== 'function') continue;
      mock[key] = jest.fn(() => {
        throw new Error(`${cls.name}.${key} was called but the test did not stub it`);
      });
    }
  }
  return mock as unknown as StrictMock<T>;
}

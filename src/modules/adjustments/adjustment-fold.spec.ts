import fc from 'fast-check';
import { fold, FoldEntry, fromMicros, isSuperseded, toMicros } from './adjustment-fold';

const e = (type: FoldEntry['type'], value: string | null, at: number, seq = at): FoldEntry => ({
  type,
  value: value === null ? null : toMicros(value),
  adjustedAtMs: at,
  seq,
});

describe('adjustment fold', () => {
  it('reads and writes exact decimals, never through a float', () => {
    expect(toMicros('99.990000')).toBe(99_990_000n);
    expect(toMicros('0.1') + toMicros('0.2')).toBe(toMicros('0.3'));
    expect(fromMicros(toMicros('100') - toMicros('0.000001'))).toBe('99.999999');
    expect(fromMicros(toMicros('-12.5'))).toBe('-12.5');
    expect(fromMicros(toMicros('99999999999999.999999'))).toBe('99999999999999.999999');
    expect(fromMicros(0n)).toBe('0');
    expect(() => toMicros('1e5')).toThrow();
  });

  it('refunds add up; a restatement sets the total; a retraction ends it at 0', () => {
    expect(fromMicros(fold(toMicros('100'), [e('refund', '10', 1), e('refund', '15.5', 2)]).value)).toBe('74.5');
    expect(
      fromMicros(fold(toMicros('100'), [e('refund', '10', 1), e('restate', '80', 2), e('refund', '5', 3)]).value),
    ).toBe('75');
    expect(fold(toMicros('100'), [e('refund', '10', 1), e('retract', null, 0)])).toEqual({
      value: 0n,
      status: 'retracted',
      negative: false,
    });
    expect(fold(toMicros('10'), [e('refund', '6', 1), e('refund', '6', 2)]).negative).toBe(true);
  });

  it('a refund or restatement dated before a recorded restatement is superseded; a retraction never', () => {
    const recorded = [e('restate', '50', 10)];
    expect(isSuperseded(e('refund', '1', 5), recorded)).toBe(true);
    expect(isSuperseded(e('restate', '70', 9), recorded)).toBe(true);
    expect(isSuperseded(e('refund', '1', 11), recorded)).toBe(false);
    expect(isSuperseded(e('retract', null, 1), recorded)).toBe(false);
    expect(isSuperseded(e('refund', '1', 5), [e('refund', '3', 10)])).toBe(false);
  });

  it('the total is the same whatever order the adjustments are folded in (it is their adjusted_at order)', () => {
    const entry = fc.record({
      type: fc.constantFrom<'restate' | 'refund'>('restate', 'refund'),
      cents: fc.integer({ min: 0, max: 10_000 }),
      at: fc.integer({ min: 0, max: 1_000 }),
    });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 12 }), (list) => {
        const entries = list.map((x, i) => ({
          type: x.type,
          value: BigInt(x.cents) * 10_000n,
          adjustedAtMs: x.at,
          seq: i,
        }));
        const inOrder = fold(1_000_000_000n, entries);
        const reversed = fold(1_000_000_000n, [...entries].reverse());
        expect(reversed).toEqual(inOrder);
      }),
    );
  });
});

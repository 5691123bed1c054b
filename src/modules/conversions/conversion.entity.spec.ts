import { getMetadataArgsStorage } from 'typeorm';
import { Conversion, CONVERSION_COLUMNS, CONVERSION_STATE_COLUMNS } from './conversion.entity';

describe('CONVERSION_COLUMNS', () => {
  it('names every column of the Conversion entity, once (with the net-state columns adjustments write)', () => {
    const entityColumns = getMetadataArgsStorage()
      .columns.filter((c) => c.target === Conversion)
      .map((c) => c.options.name ?? c.propertyName);
    expect([...CONVERSION_COLUMNS, ...CONVERSION_STATE_COLUMNS].sort()).toEqual([...entityColumns].sort());
    expect(new Set(CONVERSION_COLUMNS).size).toBe(CONVERSION_COLUMNS.length);
  });
});

/** Fault tests: spawn the compiled service against PostgreSQL (TEST_DATABASE_URL). `npm run test:fault`. */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  testMatch: ['<rootDir>/test/fault/**/*.fault.ts'],
  testTimeout: 120000,
};

/** Unit tests run in parallel; integration tests start their own servers on free ports. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Types are checked once by `tsc -p tsconfig.dev.json` (npm test), not per file by ts-jest.
  // lib/ holds jsii's compiled .js beside the sources: always test the sources.
  moduleFileExtensions: ['ts', 'js', 'json'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.dev.json', diagnostics: false }] },
  setupFilesAfterEnv: ['aws-sdk-client-mock-jest'],
  testTimeout: 60000,
  maxWorkers: 2,
};

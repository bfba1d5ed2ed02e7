// Lint: typescript-eslint's recommended rules over every TypeScript and script file. Formatting is Prettier's
// (`npm run format`); eslint-config-prettier is not needed because no stylistic rule is enabled here.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['node_modules/', 'assets/', 'dist/', 'cdk.out/', 'coverage/', '.tmp/', 'lib/**/*.js', 'lib/**/*.d.ts', '.jsii'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: globals.node,
    },
    rules: {
      // Unused names fail the type check already (noUnusedLocals); an `_` prefix marks a deliberate one.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      eqeqeq: ['error', 'always'],
      'no-console': 'off',
    },
  },
  {
    // Tests load built CommonJS bundles with require(), and match terminal escape sequences on purpose.
    files: ['test/**', 'bench/**', 'demo/**', '**/*.js', '**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off', 'no-control-regex': 'off' },
  },
);

import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Layers: imports go downward only, e2e -> plugin -> daemon -> proto/ts, gadgets -> bpf (docs/
// design.md, Folders). Each regex matches an import specifier that reaches a higher layer.
const UP = {
  plugin: { regex: '(^|/)plugin/src/', message: 'plugin/ is the CLI: nothing below imports it' },
  e2e: { regex: '(^|/)e2e/', message: 'e2e/ holds the tests of the whole: nothing imports it' },
  daemon: {
    regex: '(^|/)daemon/',
    message: 'gadgets/ and proto/ are below daemon/: move what both need into gadgets/framework/',
  },
  // the CLI runs the daemon's code only for --local and for the `daemon` command
  daemonInternals: {
    regex: '(^|/)daemon/(?!src/main\\.js$|src/runtime/local\\.js$)',
    message:
      'the CLI imports daemon/ only through src/main.ts and src/runtime/local.ts: shared types live in gadgets/framework/ and proto/ts/',
  },
};
const TESTS = ['**/*.test.ts', '**/*.test.tsx'];
// no-restricted-imports sees import and export declarations only; the same patterns are checked
// on import('...') with a literal specifier by no-restricted-syntax (esquery regexes cannot
// hold a '/', so it is written \x2F).
const dynamicImport = ({ regex, message }) => ({
  selector: `ImportExpression[source.value=/${regex.replaceAll('/', '\\x2F')}/]`,
  message: `import() of a higher layer: ${message}`,
});
const layer = (files, ignores, ...rules) => ({
  files,
  ignores,
  rules: {
    'no-restricted-imports': ['error', { patterns: rules }],
    'no-restricted-syntax': ['error', ...rules.map(dynamicImport)],
  },
});
// Tests may reach a peer a layer up in the ways named here: plugin tests start the real daemon
// server (and its authorizer) over test doubles; daemon and gadget tests share e2e/fixtures/
// (podman, rootfs); gadget tests load their program with the daemon's loader.
const testOnly = (rule, allowed, why) => ({
  regex: `${rule.regex}(?!${allowed})`,
  message: `${rule.message} (tests: ${why})`,
});

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'proto/gen/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  layer(['gadgets/**', 'proto/**'], TESTS, UP.plugin, UP.e2e, UP.daemon),
  layer(
    TESTS.flatMap((t) => [`gadgets/${t}`, `proto/${t}`]),
    [],
    UP.plugin,
    testOnly(UP.e2e, 'fixtures/', 'e2e/fixtures/ only'),
    testOnly(UP.daemon, 'src/bpf/index\\.js$', 'daemon/src/bpf/index.ts only, the loader'),
  ),
  // a gadget's integration tests (*.e2e.test.ts) live in its folder but are e2e tests: the top
  // layer, like e2e/ (they run the built CLI with e2e/helpers/)
  {
    files: ['gadgets/**/*.e2e.test.ts'],
    rules: { 'no-restricted-imports': 'off', 'no-restricted-syntax': 'off' },
  },
  layer(['daemon/**'], TESTS, UP.plugin, UP.e2e),
  layer(
    TESTS.map((t) => `daemon/${t}`),
    [],
    UP.plugin,
    testOnly(UP.e2e, 'fixtures/', 'e2e/fixtures/ only'),
  ),
  layer(['plugin/**'], TESTS, UP.e2e, UP.daemonInternals),
  layer(
    TESTS.map((t) => `plugin/${t}`),
    [],
    UP.e2e,
    testOnly(
      UP.daemonInternals,
      'src/server/server\\.js$|src/k8s/authz\\.js$|src/.*test-support/',
      'also the server, the authorizer and test-support/',
    ),
  ),
);

// The status bar's text for a reload report (src/reload.ts `summary`), with
// a stand-in for the `vscode` module, which only the editor provides.

import assert from 'node:assert/strict';
import Module from 'node:module';
import { createRequire } from 'node:module';
import { test } from 'node:test';

const originalLoad = Module._load;
Module._load = function load(request, ...rest) {
  return request === 'vscode' ? {} : originalLoad.call(this, request, ...rest);
};
const require = createRequire(import.meta.url);
const { summary } = require('../../out/reload.js');

test('a successful reload says how many modules and how long', () => {
  assert.equal(
    summary({ success: true, reloaded: [{ module: 'A', file: 'lib/a.ex' }], timings: { total: 41.4 } }),
    'Reloaded 1 module in 41 ms',
  );
  const two = [
    { module: 'A', file: 'lib/a.ex' },
    { module: 'B', file: 'lib/b.ex' },
  ];
  assert.equal(summary({ success: true, reloaded: two, removed: [two[0]], timings: { total: 7 } }),
    'Reloaded 2 modules in 7 ms; removed 1');
});

test('a compile error names the file, the line and the message', () => {
  const report = {
    success: false,
    message: 'compile error, the old code keeps running: /home/me/shop/lib/shop/pricing.ex:11: syntax error before: end',
    diagnostics: [
      { file: '/home/me/shop/lib/shop/pricing.ex', line: 3, column: 0, severity: 'warning', message: 'unused variable' },
      { file: '/home/me/shop/lib/shop/pricing.ex', line: 11, column: 3, severity: 'error', message: 'syntax error before: end\nmore' },
    ],
  };
  assert.equal(summary(report), 'Reload failed: pricing.ex:11: syntax error before: end');
});

test('nothing changed, and a failure with its message', () => {
  assert.equal(summary({ success: true, unchanged: ['lib/a.ex'] }), 'Nothing to reload');
  assert.equal(
    summary({ success: false, message: 'compile error, the old code keeps running: lib/a.ex:3: syntax error' }),
    'Reload failed: compile error, the old code keeps running: lib/a.ex:3: syntax error',
  );
});

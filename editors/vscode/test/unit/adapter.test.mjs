// How the extension finds the adapter: the setting, else PATH, else the
// binary bundled in the .vsix. Runs on the compiled extension (out/).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { after, test } from 'node:test';

const require = createRequire(import.meta.url);
const { findAdapter } = require('../../out/adapter.js');

function executable(dir, name = 'elixir-dap') {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  fs.writeFileSync(file, '#!/bin/sh\n');
  fs.chmodSync(file, 0o755);
  return file;
}

const scratches = [];
function scratch() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'elixir-dap-vscode-unit-'));
  scratches.push(dir);
  return dir;
}
after(() => {
  for (const dir of scratches) {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the setting wins over PATH and the bundled adapter', () => {
  const dir = scratch();
  const configured = executable(path.join(dir, 'custom'), 'my-adapter');
  executable(path.join(dir, 'on-path'));
  executable(path.join(dir, 'extension', 'bin'));
  const found = findAdapter(configured, path.join(dir, 'extension'), path.join(dir, 'on-path'));
  assert.deepEqual(found, { path: configured, how: 'setting' });
});

test('a configured path that is not an executable is an error naming the setting', () => {
  const dir = scratch();
  fs.writeFileSync(path.join(dir, 'not-executable'), '');
  for (const bad of [path.join(dir, 'missing'), path.join(dir, 'not-executable'), dir]) {
    assert.throws(() => findAdapter(bad, dir, ''), /elixirDap\.adapterPath: .* is not an executable file/);
  }
});

test('without the setting, the first elixir-dap on PATH', () => {
  const dir = scratch();
  const first = executable(path.join(dir, 'a'));
  executable(path.join(dir, 'b'));
  executable(path.join(dir, 'extension', 'bin'));
  const searchPath = ['', path.join(dir, 'empty'), path.join(dir, 'a'), path.join(dir, 'b')].join(path.delimiter);
  assert.deepEqual(findAdapter('  ', path.join(dir, 'extension'), searchPath), { path: first, how: 'PATH' });
});

test('else the adapter bundled beside the extension', () => {
  const dir = scratch();
  const bundled = executable(path.join(dir, 'extension', 'bin'));
  assert.deepEqual(findAdapter('', path.join(dir, 'extension'), path.join(dir, 'nothing-here')), {
    path: bundled,
    how: 'bundled',
  });
});

test('nowhere: an error that says where to put it', () => {
  const dir = scratch();
  assert.throws(() => findAdapter('', dir, undefined), /elixir-dap was not found: set `elixirDap.adapterPath`/);
});

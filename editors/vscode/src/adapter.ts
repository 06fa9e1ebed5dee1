// Finding the elixir-dap executable: the setting `elixirDap.adapterPath`,
// else `elixir-dap` on PATH, else the one bundled beside the extension
// (bin/elixir-dap in the .vsix).

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const ADAPTER_NAME = 'elixir-dap';

export interface Found {
  path: string;
  /** Where it was found, for the log and error messages. */
  how: 'setting' | 'PATH' | 'bundled';
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function expandHome(file: string): string {
  return file === '~' || file.startsWith('~/') ? path.join(os.homedir(), file.slice(1)) : file;
}

/**
 * Finds the adapter. `configured` is the setting (empty: not set); a
 * configured path that is not an executable file is an error rather than a
 * silent fall-back, so that a typo is seen.
 */
export function findAdapter(configured: string, extensionPath: string, searchPath: string | undefined): Found {
  const setting = configured.trim();
  if (setting !== '') {
    const file = path.resolve(expandHome(setting));
    if (!isExecutable(file)) {
      throw new Error(`elixirDap.adapterPath: ${file} is not an executable file`);
    }
    return { path: file, how: 'setting' };
  }
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (dir === '') {
      continue;
    }
    const file = path.join(dir, ADAPTER_NAME);
    if (isExecutable(file)) {
      return { path: file, how: 'PATH' };
    }
  }
  const bundled = path.join(extensionPath, 'bin', ADAPTER_NAME);
  if (isExecutable(bundled)) {
    return { path: bundled, how: 'bundled' };
  }
  throw new Error(
    'elixir-dap was not found: set `elixirDap.adapterPath`, put `elixir-dap` on PATH ' +
      '(cargo build --release builds target/release/elixir-dap), or install a .vsix that bundles it.',
  );
}

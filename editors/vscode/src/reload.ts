// What the user sees of reloads: a status-bar item with the last reload
// (modules and milliseconds, or the error), a failed reload's compiler
// diagnostics in the Problems panel, and a notification offering a restart.
// Fed by the adapter's `codeReloaded` and `reloadPending` events
// (docs/protocol.md, "Extensions"), whichever way the reload was asked for:
// the Reload Code command or a save.

import * as path from 'path';
import * as vscode from 'vscode';

/** The `codeReloaded` body (docs/protocol.md): the fields shown here. */
export interface ReloadReport {
  success: boolean;
  message?: string;
  dryRun?: boolean;
  trigger?: string;
  reloaded?: { module: string; file: string }[];
  unchanged?: string[];
  removed?: { module: string; file: string }[];
  diagnostics?: { file: string; line: number; column: number; severity: string; message: string }[];
  restartRequired?: { file: string; reason: string }[];
  rolledBack?: boolean;
  timings?: { total?: number };
}

function plural(count: number, singular: string, several: string): string {
  return `${count} ${count === 1 ? singular : several}`;
}

/** The status bar's text for a report. */
export function summary(report: ReloadReport): string {
  if (!report.success) {
    // A compile error: where and what, without the project's path.
    const error = report.diagnostics?.find((d) => d.severity === 'error');
    if (error !== undefined) {
      const where = error.line > 0 ? `${path.basename(error.file)}:${error.line}` : path.basename(error.file);
      return `Reload failed: ${where}: ${error.message.split('\n')[0]}`;
    }
    return `Reload failed: ${report.message ?? 'nothing was reloaded'}`;
  }
  const reloaded = report.reloaded?.length ?? 0;
  const removed = report.removed?.length ?? 0;
  if (reloaded === 0 && removed === 0) {
    return 'Nothing to reload';
  }
  const ms = Math.round(report.timings?.total ?? 0);
  const parts = [`Reloaded ${plural(reloaded, 'module', 'modules')} in ${ms} ms`];
  if (removed > 0) {
    parts.push(`removed ${removed}`);
  }
  return parts.join('; ');
}

function shorten(text: string, length: number): string {
  const line = text.split('\n')[0];
  return line.length > length ? `${line.slice(0, length - 1)}…` : line;
}

export class ReloadView implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly problems: vscode.DiagnosticCollection;
  private readonly output: vscode.OutputChannel;
  private last: ReloadReport | undefined;
  private lastNotified: string | undefined;
  private sessions = new Set<string>();

  constructor() {
    this.item = vscode.window.createStatusBarItem('elixirDap.lastReload', vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'Elixir DAP: last reload';
    this.item.command = 'elixirDap.reloadCode';
    this.problems = vscode.languages.createDiagnosticCollection('elixir-dap');
    this.output = vscode.window.createOutputChannel('Elixir DAP');
  }

  log(line: string): void {
    this.output.appendLine(line);
  }

  sessionStarted(session: vscode.DebugSession): void {
    this.sessions.add(session.id);
    this.last = undefined;
    this.lastNotified = undefined;
    this.problems.clear();
    this.show('$(sync) Reload Code', 'No reload yet in this session. Click to reload the code changed since launch.');
  }

  sessionEnded(session: vscode.DebugSession): void {
    this.sessions.delete(session.id);
    if (this.sessions.size === 0) {
      this.item.hide();
      this.problems.clear();
    }
  }

  /** `reloadPending` (reloadOnSave: manual): saved files waiting for a reload. */
  pending(body: { changed?: string[]; removed?: string[] }): void {
    const count = (body.changed?.length ?? 0) + (body.removed?.length ?? 0);
    if (count === 0) {
      return;
    }
    const files = [...(body.changed ?? []), ...(body.removed ?? []).map((f) => `${f} (deleted)`)].join('\n');
    if (this.last !== undefined && !this.last.success) {
      // The failure stays in sight until the next reload; the files wait.
      this.item.tooltip = `${this.details(this.last)}\n\nTo reload:\n${files}`;
      return;
    }
    this.show(`$(sync) ${plural(count, 'file', 'files')} to reload`, files);
  }

  /** `codeReloaded`: after every reload, requested or on save. */
  reloaded(session: vscode.DebugSession, report: ReloadReport): void {
    this.last = report;
    const text = summary(report);
    this.log(`${new Date().toISOString()} ${text}`);
    if (report.dryRun) {
      return;
    }
    this.showProblems(report);
    if (report.success) {
      this.lastNotified = undefined;
      this.show(`$(check) ${text}`, this.details(report));
      return;
    }
    this.show(`$(error) ${shorten(text, 70)}`, this.details(report));
    if (text === this.lastNotified) {
      return;
    }
    this.lastNotified = text;
    const actions = ['Restart Debugging'];
    if ((report.diagnostics?.length ?? 0) > 0) {
      actions.push('Show Problems');
    }
    void vscode.window
      .showWarningMessage(`Elixir DAP: ${shorten(text, 200)}`, ...actions)
      .then((choice) => {
        if (choice === 'Restart Debugging') {
          void restart(session);
        } else if (choice === 'Show Problems') {
          void vscode.commands.executeCommand('workbench.actions.view.problems');
        }
      });
  }

  showLast(): void {
    if (this.last === undefined) {
      void vscode.window.showInformationMessage('Elixir DAP: no reload yet.');
      return;
    }
    this.output.show(true);
  }

  private details(report: ReloadReport): string {
    const lines = [summary(report)];
    for (const module of report.reloaded ?? []) {
      lines.push(`reloaded ${module.module} (${module.file})`);
    }
    for (const restart of report.restartRequired ?? []) {
      lines.push(`restart required: ${restart.file}: ${restart.reason}`);
    }
    if (report.rolledBack) {
      lines.push('rolled back: the old code keeps running');
    }
    lines.push('', 'Click to reload the code (Ctrl+Alt+R).');
    return lines.join('\n');
  }

  private showProblems(report: ReloadReport): void {
    this.problems.clear();
    const byFile = new Map<string, vscode.Diagnostic[]>();
    const add = (file: string, diagnostic: vscode.Diagnostic) => {
      const list = byFile.get(file) ?? [];
      list.push(diagnostic);
      byFile.set(file, list);
    };
    for (const d of report.diagnostics ?? []) {
      if (!d.file || !path.isAbsolute(d.file)) {
        continue;
      }
      // Lines count from 1 (the extension says so in `initialize`); a
      // column of 0 is the compiler's "unknown".
      const line = Math.max(0, d.line - 1);
      const column = Math.max(0, d.column - 1);
      const severity =
        d.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning;
      const diagnostic = new vscode.Diagnostic(new vscode.Range(line, column, line, 10_000), d.message, severity);
      diagnostic.source = 'elixir-dap reload';
      add(d.file, diagnostic);
    }
    for (const file of byFile.keys()) {
      this.problems.set(vscode.Uri.file(file), byFile.get(file));
    }
  }

  private show(text: string, tooltip: string): void {
    this.item.text = text;
    this.item.tooltip = tooltip;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
    this.problems.dispose();
    this.output.dispose();
  }
}

/** Restarts a session with its configuration. */
async function restart(session: vscode.DebugSession): Promise<void> {
  const configuration = session.configuration;
  const folder = session.workspaceFolder;
  await vscode.debug.stopDebugging(session);
  await vscode.debug.startDebugging(folder, configuration);
}

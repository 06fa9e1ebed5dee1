// The VS Code side of elixir-dap: the `elixir-dap` debug type (launch
// configurations use ElixirLS's attributes unchanged), how the adapter is
// found and started, the Reload Code command, and the reload status.

import * as vscode from 'vscode';
import { findAdapter } from './adapter';
import { ReloadReport, ReloadView } from './reload';

export const DEBUG_TYPE = 'elixir-dap';

function settings(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration('elixirDap');
}

/** Fills what a configuration leaves out; also the configuration used without a launch.json. */
class ConfigurationProvider implements vscode.DebugConfigurationProvider {
  resolveDebugConfiguration(
    folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): vscode.ProviderResult<vscode.DebugConfiguration> {
    if (!config.type && !config.request && !config.name) {
      // F5 without a launch.json: run the project.
      config = {
        type: DEBUG_TYPE,
        request: 'launch',
        name: 'mix run',
        task: 'run',
        taskArgs: ['--no-halt'],
      };
    }
    if (config.request !== 'launch') {
      void vscode.window.showErrorMessage(
        `Elixir DAP: "request": "${String(config.request)}" is not supported; use "launch".`,
      );
      return undefined;
    }
    if (config.projectDir === undefined && folder !== undefined) {
      config.projectDir = '${workspaceFolder}';
    }
    if (config.reloadOnSave === undefined) {
      config.reloadOnSave = settings().get<string>('reloadOnSave', 'auto');
    }
    return config;
  }
}

class AdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly view: ReloadView,
  ) {}

  createDebugAdapterDescriptor(session: vscode.DebugSession): vscode.ProviderResult<vscode.DebugAdapterDescriptor> {
    const found = findAdapter(settings().get<string>('adapterPath', ''), this.context.extensionPath, process.env.PATH);
    const args = settings().get<string[]>('adapterArgs', []);
    this.view.log(`starting ${found.path} (${found.how}) ${args.join(' ')}`.trimEnd());
    const cwd = session.workspaceFolder?.uri.fsPath;
    return new vscode.DebugAdapterExecutable(found.path, args, cwd !== undefined ? { cwd } : {});
  }
}

/** The elixir-dap session a command acts on: the active one, else the only one. */
function targetSession(sessions: Map<string, vscode.DebugSession>): vscode.DebugSession | undefined {
  const active = vscode.debug.activeDebugSession;
  if (active?.type === DEBUG_TYPE) {
    return active;
  }
  return sessions.size === 1 ? [...sessions.values()][0] : undefined;
}

export function activate(context: vscode.ExtensionContext): void {
  const view = new ReloadView();
  const sessions = new Map<string, vscode.DebugSession>();
  context.subscriptions.push(
    view,
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, new ConfigurationProvider()),
    vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, new AdapterFactory(context, view)),
    vscode.debug.onDidStartDebugSession((session) => {
      if (session.type === DEBUG_TYPE) {
        sessions.set(session.id, session);
        view.sessionStarted(session);
      }
    }),
    vscode.debug.onDidTerminateDebugSession((session) => {
      if (sessions.delete(session.id)) {
        view.sessionEnded(session);
      }
    }),
    vscode.debug.onDidReceiveDebugSessionCustomEvent((event) => {
      if (event.session.type !== DEBUG_TYPE) {
        return;
      }
      if (event.event === 'codeReloaded') {
        view.reloaded(event.session, event.body as ReloadReport);
      } else if (event.event === 'reloadPending') {
        view.pending(event.body as { changed?: string[]; removed?: string[] });
      }
    }),
    vscode.commands.registerCommand('elixirDap.reloadCode', async () => {
      const session = targetSession(sessions);
      if (session === undefined) {
        void vscode.window.showInformationMessage('Elixir DAP: no elixir-dap debug session is running.');
        return;
      }
      // Save what is dirty first: a reload reads the files on disk.
      await vscode.workspace.saveAll(false);
      try {
        await session.customRequest('reloadCode', {});
      } catch (error) {
        // A failed reload also arrives as a `codeReloaded` event, which the
        // status bar and the Problems panel show; log the response's text.
        view.log(`reloadCode: ${error instanceof Error ? error.message : String(error)}`);
      }
    }),
    vscode.commands.registerCommand('elixirDap.showLastReload', () => view.showLast()),
  );
}

export function deactivate(): void {}

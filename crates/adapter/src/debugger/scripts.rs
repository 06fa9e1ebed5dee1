//! Modules the program defines at run time from the project's `.exs` files:
//! test modules under `mix test`, `test_helper.exs`, `requireFiles`.
//!
//! They have no beam file and did not exist at launch, so breakpoints set in
//! their files were answered "no compiled module comes from this file". The
//! agent holds each such module inside its own definition (before ExUnit can
//! run it) and sends `script_module`; here it joins the registry, is
//! interpreted when selected, its file's breakpoints are placed again (a
//! `breakpoint` event for each that is verified now), and the agent is told
//! to let the definition go on. See `elixir_dap_scripts.erl`.

use super::modules::ModuleInfo;
use super::{canonical, Debugger};
use beam::protocol::{self, Request, ScriptModule};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

impl Debugger {
    /// Handles the agent's `script_module` event: `#{module => atom, name =>
    /// binary, source => binary (absolute path), waiter => pid}`. Always
    /// releases the waiting definition, whatever fails before.
    pub async fn on_script_module(&mut self, data: &ScriptModule) {
        {
            let atom = data.module.to_string();
            let source = canonical(Path::new(&data.source));
            let name = data.name.clone();
            // A file required again defines a new version of the module.
            self.registry.unmark_interpreted(&atom);
            self.breakable.remove(&atom);
            let info = ModuleInfo {
                atom: atom.clone(),
                name: name.clone(),
                source: Some(source.clone()),
                app: String::new(),
                project: true,
                calls_dbg: false,
            };
            let selected = self.selection.selects(&info);
            self.registry.upsert(info);
            // A refusal is reported on the console by the interpretation itself.
            if selected {
                if let Err(message) = self.ensure_interpreted(&atom).await {
                    tracing::debug!(%message, "script module {name} not interpreted");
                }
            }
            let sources = BTreeSet::from([source]);
            let modules = BTreeSet::from([atom]);
            if let Err(e) = self.follow_reload(&BTreeMap::new(), &sources, &modules).await {
                self.client
                    .console(format!("elixir-dap: breakpoints in {name} could not be set: {e}"));
            }
        }
        let release = Request::ScriptRelease {
            waiter: data.waiter.clone(),
        };
        if let Err(e) = self
            .agent
            .request::<protocol::Done>(&release, super::CALL_TIMEOUT)
            .await
        {
            tracing::warn!("could not release a script module: {e}");
        }
    }
}

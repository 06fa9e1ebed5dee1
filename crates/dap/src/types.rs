//! Typed bodies of the DAP requests, responses and events the adapter uses.
//! Field names follow the DAP specification (camelCase on the wire).

use serde::{Deserialize, Serialize};

/// `initialize` arguments: only the client capabilities the adapter acts on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InitializeArguments {
    pub client_id: Option<String>,
    pub adapter_id: Option<String>,
    /// Whether lines and columns the client sends are 1-based (the default).
    pub lines_start_at1: Option<bool>,
    pub supports_progress_reporting: Option<bool>,
    pub supports_variable_type: Option<bool>,
}

/// What the adapter advertises. Only capabilities that really work are set.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supports_configuration_done_request: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supports_terminate_request: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_terminate_debuggee: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DisconnectArguments {
    pub restart: Option<bool>,
    pub terminate_debuggee: Option<bool>,
    pub suspend_debuggee: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TerminateArguments {
    pub restart: Option<bool>,
}

/// `output` event categories the adapter emits.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OutputCategory {
    Console,
    Important,
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutputEventBody {
    pub category: OutputCategory,
    pub output: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitedEventBody {
    pub exit_code: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessEventBody {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_process_id: Option<u32>,
    pub is_local_process: bool,
    pub start_method: &'static str,
}

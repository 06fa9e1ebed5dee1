//! What the numbers were measured on: cores, CPU, OTP and Elixir versions,
//! load.

use std::process::Command;

use serde_json::{json, Value};

/// The machine description of a report. Versions come from the same
/// `erl` and `elixir` the adapter starts (from `PATH`).
pub fn describe() -> Result<Value, String> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let otp = erl_eval("erlang:system_info(otp_release)")?;
    let erts = erl_eval("erlang:system_info(version)")?;
    let elixir = elixir_version()?;
    Ok(json!({
        "cores": cores,
        "cpu": cpu_model(),
        "otp": otp,
        "erts": erts,
        "elixir": elixir,
        "kernel": read_trimmed("/proc/sys/kernel/osrelease"),
        "loadavg_at_start": load_average(),
    }))
}

/// The 1, 5 and 15-minute load averages, as `/proc/loadavg` shows them.
pub fn load_average() -> Option<String> {
    let text = read_trimmed("/proc/loadavg")?;
    Some(text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
}

/// Evaluates an Erlang expression returning a string (a charlist).
fn erl_eval(expression: &str) -> Result<String, String> {
    let output = Command::new("erl")
        .args(["-noshell", "-eval"])
        .arg(format!("io:format(\"~s\", [{expression}]), halt()."))
        .output()
        .map_err(|e| format!("cannot run `erl` (is Erlang/OTP installed?): {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`erl` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// `1.14.0` from `elixir --version`'s `Elixir 1.14.0 (compiled with ...)`.
fn elixir_version() -> Result<String, String> {
    let output = Command::new("elixir")
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run `elixir` (is Elixir installed?): {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse_elixir_version(&text).ok_or_else(|| format!("no Elixir version in `elixir --version`: {text}"))
}

fn parse_elixir_version(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("Elixir "))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::parse_elixir_version;

    #[test]
    fn parses_elixir_version_output() {
        let text = "Erlang/OTP 25 [erts-13.1.5] [source]\n\nElixir 1.14.0 (compiled with Erlang/OTP 24)\n";
        assert_eq!(parse_elixir_version(text).as_deref(), Some("1.14.0"));
        assert_eq!(parse_elixir_version("nothing"), None);
    }
}

//! Checks made before an attach session starts its helper node: whether the
//! node to attach to is registered with epmd on its host. Asking epmd takes
//! milliseconds, while the helper node takes a VM's boot (and, the first
//! time, compiling the agent) before it can say the same, so an unknown node
//! or an unreachable host is reported at once.
//!
//! epmd's protocol (OTP's `erts/doc/guides/erl_dist_protocol.md`, "NAMES_REQ"):
//! the request is a 2-byte big-endian length and the byte 110; the answer is
//! epmd's port as 4 bytes, then one line `name <Name> at port <Port>` per
//! registered node, until epmd closes the connection.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// epmd's port: `ERL_EPMD_PORT`, as every Erlang node reads it, else 4369.
pub fn epmd_port() -> u16 {
    std::env::var("ERL_EPMD_PORT")
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(4369)
}

/// The names of the nodes registered with epmd on `host`, or why epmd
/// could not be asked (within `timeout` for each step). `Ok(None)`: the
/// host has no address this machine's resolver knows, while Erlang's own
/// may (it resolves its own host name without the system's help, as in a
/// chroot whose /etc/hosts lacks it): let a node try.
pub fn registered_names(host: &str, port: u16, timeout: Duration) -> Result<Option<Vec<String>>, String> {
    let host = if is_this_host(host) { "127.0.0.1" } else { host };
    let Ok(addresses) = (host, port).to_socket_addrs() else {
        return Ok(None);
    };
    let addresses: Vec<_> = addresses.collect();
    if addresses.is_empty() {
        return Ok(None);
    }
    let mut last_error = format!("cannot resolve the host {host}");
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(mut stream) => {
                let asked = stream
                    .set_read_timeout(Some(timeout))
                    .and_then(|()| stream.set_write_timeout(Some(timeout)))
                    .and_then(|()| stream.write_all(&[0, 1, 110]));
                if let Err(e) = asked {
                    return Err(format!("epmd on {host} (port {port}) does not answer: {e}"));
                }
                let mut answer = Vec::new();
                if let Err(e) = stream.take(1 << 20).read_to_end(&mut answer) {
                    return Err(format!("epmd on {host} (port {port}) does not answer: {e}"));
                }
                return parse_names(&answer)
                    .map(Some)
                    .ok_or_else(|| format!("epmd on {host} (port {port}) gave no list of names"));
            }
            Err(e) => last_error = format!("no epmd answers on {host} (port {port}): {e}"),
        }
    }
    Err(last_error)
}

/// Whether `host` names this machine, as a short name takes it (the host
/// name up to its first dot) or in full.
fn is_this_host(host: &str) -> bool {
    let Ok(own) = nix::unistd::gethostname() else {
        return false;
    };
    let own = own.to_string_lossy();
    host == own || Some(host) == own.split('.').next()
}

fn parse_names(answer: &[u8]) -> Option<Vec<String>> {
    let text = std::str::from_utf8(answer.get(4..)?).ok()?;
    Some(
        text.lines()
            .filter_map(|line| line.strip_prefix("name ")?.split(" at port ").next())
            .map(str::to_owned)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_from_epmd_s_answer() {
        let answer = b"\0\0\x11\x11name app at port 40001\nname elixir_dap_1 at port 40002\n";
        assert_eq!(
            parse_names(answer),
            Some(vec!["app".to_owned(), "elixir_dap_1".to_owned()])
        );
        assert_eq!(parse_names(b"\0\0\x11\x11"), Some(vec![]));
        assert_eq!(parse_names(b"\0"), None);
    }

    #[test]
    fn a_port_nobody_listens_on_is_an_error_naming_it() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = registered_names("127.0.0.1", port, Duration::from_secs(1)).unwrap_err();
        assert!(error.contains(&format!("port {port}")), "{error}");
    }

    #[test]
    fn this_host_by_its_short_name_is_asked_on_loopback() {
        let own = nix::unistd::gethostname().unwrap();
        let short = own.to_string_lossy().split('.').next().unwrap().to_owned();
        assert!(is_this_host(&short));
        assert!(!is_this_host("no-such-host-here.invalid"));
        assert_eq!(
            registered_names("no-such-host-here.invalid", 4369, Duration::from_secs(1)),
            Ok(None)
        );
    }
}

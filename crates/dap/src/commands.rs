//! [`Command`]: the requests the adapter handles, typed, so that the session
//! dispatches with one exhaustive `match` (a command added here and not
//! handled does not compile) and advertises only what it dispatches (`ALL`,
//! kept complete by the test `every_variant_is_in_all`).

/// A request's `command`: every DAP request the adapter handles, and our
/// `reloadCode` extension (docs/protocol.md). Arguments stay JSON until the
/// handler parses them into its own type ([`crate::parse_arguments`]), so
/// that an argument error names the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Initialize,
    Launch,
    Attach,
    ConfigurationDone,
    Disconnect,
    Terminate,
    Threads,
    SetBreakpoints,
    SetFunctionBreakpoints,
    SetExceptionBreakpoints,
    StackTrace,
    Scopes,
    Variables,
    Evaluate,
    Continue,
    Next,
    StepIn,
    StepOut,
    Pause,
    Modules,
    LoadedSources,
    /// Our extension.
    ReloadCode,
}

impl Command {
    /// Every command, in the order of DAP's specification (ours last).
    pub const ALL: [Command; 22] = [
        Command::Initialize,
        Command::Launch,
        Command::Attach,
        Command::ConfigurationDone,
        Command::Disconnect,
        Command::Terminate,
        Command::Threads,
        Command::SetBreakpoints,
        Command::SetFunctionBreakpoints,
        Command::SetExceptionBreakpoints,
        Command::StackTrace,
        Command::Scopes,
        Command::Variables,
        Command::Evaluate,
        Command::Continue,
        Command::Next,
        Command::StepIn,
        Command::StepOut,
        Command::Pause,
        Command::Modules,
        Command::LoadedSources,
        Command::ReloadCode,
    ];

    /// The name on the wire (`setBreakpoints`).
    pub fn name(self) -> &'static str {
        match self {
            Command::Initialize => "initialize",
            Command::Launch => "launch",
            Command::Attach => "attach",
            Command::ConfigurationDone => "configurationDone",
            Command::Disconnect => "disconnect",
            Command::Terminate => "terminate",
            Command::Threads => "threads",
            Command::SetBreakpoints => "setBreakpoints",
            Command::SetFunctionBreakpoints => "setFunctionBreakpoints",
            Command::SetExceptionBreakpoints => "setExceptionBreakpoints",
            Command::StackTrace => "stackTrace",
            Command::Scopes => "scopes",
            Command::Variables => "variables",
            Command::Evaluate => "evaluate",
            Command::Continue => "continue",
            Command::Next => "next",
            Command::StepIn => "stepIn",
            Command::StepOut => "stepOut",
            Command::Pause => "pause",
            Command::Modules => "modules",
            Command::LoadedSources => "loadedSources",
            Command::ReloadCode => "reloadCode",
        }
    }

    /// The command named `name` (case-sensitive, as DAP's names are), or
    /// `None` for a request the adapter does not handle.
    pub fn parse(name: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        let mut names = std::collections::BTreeSet::new();
        for command in Command::ALL {
            assert_eq!(Command::parse(command.name()), Some(command));
            assert!(names.insert(command.name()), "{} twice", command.name());
        }
        assert_eq!(Command::parse("frobnicate"), None);
        assert_eq!(Command::parse("SetBreakpoints"), None);
    }

    /// `ALL` is written by hand: this exhaustive match stops compiling when
    /// a variant is added, until it is given its place in `ALL` here too.
    #[test]
    fn every_variant_is_in_all() {
        fn position(command: Command) -> usize {
            match command {
                Command::Initialize => 0,
                Command::Launch => 1,
                Command::Attach => 2,
                Command::ConfigurationDone => 3,
                Command::Disconnect => 4,
                Command::Terminate => 5,
                Command::Threads => 6,
                Command::SetBreakpoints => 7,
                Command::SetFunctionBreakpoints => 8,
                Command::SetExceptionBreakpoints => 9,
                Command::StackTrace => 10,
                Command::Scopes => 11,
                Command::Variables => 12,
                Command::Evaluate => 13,
                Command::Continue => 14,
                Command::Next => 15,
                Command::StepIn => 16,
                Command::StepOut => 17,
                Command::Pause => 18,
                Command::Modules => 19,
                Command::LoadedSources => 20,
                Command::ReloadCode => 21,
            }
        }
        for (index, command) in Command::ALL.into_iter().enumerate() {
            assert_eq!(position(command), index, "{command:?}");
        }
    }
}

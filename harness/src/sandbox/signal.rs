//! Names and plain-words meanings of the signals that end a worker, for verdict reasons.

/// The conventional name of signal `signal` (`SIGSEGV`), or `signal N` when it has none here.
pub fn name(signal: i32) -> String {
    let known = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => return format!("signal {signal}"),
    };
    known.to_owned()
}

/// What signal `signal` usually means when it ends a program, in a few words.
pub fn meaning(signal: i32) -> &'static str {
    match signal {
        libc::SIGSEGV => "segmentation fault: an access to memory it does not own",
        libc::SIGBUS => "bus error: a misaligned or unbacked memory access",
        libc::SIGFPE => "arithmetic exception, such as an integer division by zero",
        libc::SIGILL => "illegal instruction (built for a CPU feature this machine lacks?)",
        libc::SIGABRT => "aborted (a failed assertion, abort(), or an uncaught C++ exception)",
        libc::SIGKILL => "killed",
        libc::SIGTERM => "terminated",
        libc::SIGPIPE => "wrote to a closed pipe",
        libc::SIGXCPU => "CPU time limit exceeded",
        libc::SIGSYS => {
            "a system call the sandbox forbids: starting a process, or signalling another"
        }
        libc::SIGTRAP => "trace or breakpoint trap",
        _ => "ended by a signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_signals_are_named() {
        assert_eq!(name(libc::SIGSEGV), "SIGSEGV");
        assert_eq!(name(libc::SIGABRT), "SIGABRT");
        assert_eq!(name(200), "signal 200");
        assert!(meaning(libc::SIGSEGV).contains("segmentation fault"));
    }
}

//! Child processes that cannot outlive whoever started them.
//!
//! A launcher that exits normally stops its children itself; one that is
//! killed (`kill -9`, a crashed test harness) cannot. Linux's
//! `PR_SET_PDEATHSIG` makes the kernel send the child SIGTERM when the
//! thread that spawned it dies, so spawn from a thread that lives as long as
//! the children: the launcher's single-threaded runtime, a test's thread.

use std::process::Command;

/// Makes `command`'s process receive SIGTERM when the spawning thread dies
/// (Linux; a no-op elsewhere).
pub fn die_with_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt as _;
        // SAFETY: the closure runs in the forked child before exec and only
        // makes async-signal-safe system calls (prctl, getppid, _exit)
        // without allocating.
        unsafe {
            let parent = libc::getpid();
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

/// Asks process `pid` to stop (SIGTERM). False if it no longer exists.
pub fn terminate(pid: u32) -> bool {
    signal(pid, libc::SIGTERM)
}

/// Interrupts process `pid` as Ctrl-C does (SIGINT).
pub fn interrupt(pid: u32) -> bool {
    signal(pid, libc::SIGINT)
}

/// Kills process `pid` outright (SIGKILL).
pub fn kill(pid: u32) -> bool {
    signal(pid, libc::SIGKILL)
}

/// Sends `signal` to process `pid`. False if it no longer exists.
pub fn signal(pid: u32, signal: libc::c_int) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// Whether process `pid` exists and has not exited (a zombie counts as
/// exited).
pub fn is_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the parenthesised command name.
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
            Err(_) => false,
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        signal(pid, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_alive_until_terminated_and_reaped() {
        let mut command = Command::new("sleep");
        command.arg("30");
        die_with_parent(&mut command);
        let mut child = command.spawn().expect("spawn sleep");
        assert!(is_alive(child.id()));
        assert!(terminate(child.id()));
        let status = child.wait().expect("wait");
        assert!(!status.success());
        assert!(!is_alive(child.id()));
    }

    #[test]
    fn a_child_dies_with_the_thread_that_spawned_it() {
        let pid = std::thread::spawn(|| {
            let mut command = Command::new("sleep");
            command.arg("30");
            die_with_parent(&mut command);
            command.spawn().expect("spawn sleep").id()
        })
        .join()
        .expect("spawner thread");
        // The spawning thread has exited; the kernel sends SIGTERM. The
        // child stays a zombie until reaped, which `is_alive` treats as gone.
        let stopped = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            !is_alive(pid)
        });
        assert!(stopped, "sleep {pid} outlived its spawner");
        // Reap it so the test leaves no zombie behind.
        // SAFETY: waitpid on our own child; a null status pointer is allowed.
        unsafe {
            libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
        }
    }
}

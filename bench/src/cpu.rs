//! CPU time per unit of work: on a machine shared with other builds and
//! tests, throughput moves with the neighbours, the CPU a piece of work
//! costs much less.

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
pub const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system time of process `pid` so far, in clock ticks; `None`
/// once it is gone (or off Linux).
pub fn ticks_of(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// This process's CPU time so far, in clock ticks.
pub fn own_ticks() -> u64 {
    ticks_of(std::process::id()).unwrap_or(0)
}

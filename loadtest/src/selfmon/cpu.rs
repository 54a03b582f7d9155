//! CPU time of a process from `/proc/<pid>/stat` (user + system).
//!
//! The coordinator reads its own and each worker's, so the load generator's
//! CPU covers every process it runs, without any help from the workers.

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`, 100 on every
/// Linux architecture this runs on).
pub const USER_HZ: f64 = 100.0;

/// User + system seconds from the text of a `/proc/<pid>/stat` file.
///
/// The command name (field 2) is in parentheses and may hold spaces or
/// parentheses itself, so fields are counted after the last `)`.
pub fn parse_stat(text: &str) -> Option<f64> {
    let after = &text[text.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    // Field 3 is the first after the name; utime and stime are 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// CPU seconds process `pid` has used so far; `None` when unreadable
/// (gone, or not Linux).
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .as_deref()
        .and_then(parse_stat)
}

/// CPU seconds this process has used so far.
pub fn self_cpu_seconds() -> Option<f64> {
    process_cpu_seconds(std::process::id())
}

/// Cores this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_past_odd_command_names() {
        let line = "4242 (herald (lt) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat(line), Some(3.25));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn this_process_has_a_cpu_time_that_grows() {
        let a = self_cpu_seconds().expect("/proc is readable");
        let mut x = 0u64;
        let t = tokio::time::Instant::now();
        while t.elapsed().as_millis() < 60 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let b = self_cpu_seconds().expect("/proc is readable");
        assert!(b >= a, "{a} -> {b}");
        assert!(cores() >= 1);
        assert!(process_cpu_seconds(u32::MAX).is_none());
    }
}

//! What a process group costs, read from `/proc`: resident and peak memory, CPU time and open descriptors.

use std::time::Duration;

/// The resources of every process in the target's group at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    /// Resident memory, in bytes.
    pub rss: u64,
    /// The most resident memory since the last reset of the peaks, in bytes.
    pub peak: u64,
    /// User and system CPU time since the processes started.
    pub cpu: Duration,
    /// Open file descriptors (sockets among them).
    pub fds: u64,
    pub processes: usize,
}

/// The live processes whose process group is `group`, found by a scan of `/proc` (zombies,
/// which hold no resources, left out).
pub fn members(group: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            stat_fields(pid).is_some_and(|fields| {
                fields.first().is_some_and(|state| state != "Z")
                    && fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(group)
            })
        })
        .collect()
}

/// The fields of `/proc/PID/stat` after the command name (which may hold spaces), from `state` on.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    Some(after_name.split_whitespace().map(str::to_string).collect())
}

/// Sums the usage of `pids`; a process that is gone by now counts for nothing.
pub fn read(pids: &[u32]) -> Usage {
    let ticks = clock_ticks();
    let page = page_size();
    let mut usage = Usage::default();
    for &pid in pids {
        let Some(fields) = stat_fields(pid) else {
            continue;
        };
        // Indices from `state` (field 3 of proc(5)): utime is field 14, stime 15, rss 24.
        let number = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        usage.processes += 1;
        usage.cpu += Duration::from_secs_f64((number(11) + number(12)) as f64 / ticks as f64);
        usage.rss += number(21) * page;
        usage.peak += peak_of(pid).unwrap_or(number(21) * page);
        usage.fds += std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    }
    usage
}

/// `VmHWM` of `/proc/PID/status`, in bytes.
fn peak_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Resets the peak resident memory of `pids` to their current one, so the next peak is one
/// case's; false where that is not allowed (then the peak is the all-time one).
pub fn reset_peaks(pids: &[u32]) -> bool {
    // proc(5): writing 5 to clear_refs resets the peak RSS.
    pids.iter()
        .all(|pid| std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok())
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as u64
    } else {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_measured() {
        let me = std::process::id();
        let usage = read(&[me]);
        assert_eq!(usage.processes, 1);
        assert!(usage.rss > 1 << 20, "{usage:?}");
        assert!(usage.peak >= usage.rss, "{usage:?}");
        assert!(usage.fds >= 3, "{usage:?}");
        assert!(read(&[u32::MAX]).processes == 0);
    }

    #[test]
    fn a_group_is_found_by_scanning_proc() {
        let group = stat_fields(std::process::id()).unwrap()[2].parse().unwrap();
        assert!(members(group).contains(&std::process::id()));
    }
}

//! Helpers shared by the server benches: peak memory of the server process and an optional
//! `perf record` around a scenario. Not every bench uses every helper.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `Vm*` figure of a process, in KiB (`VmHWM` = peak RSS), from /proc.
pub fn vm_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU seconds (user + system) a process has used, from /proc (`pid` 0: this process). On a
/// shared machine wall times stretch with the load; CPU seconds much less.
pub fn cpu_secs(pid: u32) -> f64 {
    let path = if pid == 0 {
        "/proc/self/stat".to_string()
    } else {
        format!("/proc/{pid}/stat")
    };
    let Ok(stat) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15 (USER_HZ = 100 on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    f.iter().sum::<u64>() as f64 / 100.0
}

/// `BENCH_PERF=FILE`: `perf record` (with `call_graph` args) on the server while a scenario
/// runs, for the flame graphs in docs/flamegraphs/.
pub fn perf_start(pid: u32, tag: &str, call_graph: &[&str]) -> Option<Child> {
    let file = std::env::var("BENCH_PERF").ok()?;
    let child = Command::new("perf")
        .arg("record")
        .args(call_graph)
        .arg("-o")
        .arg(format!("{file}.{tag}"))
        .args(["-p", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_millis(300));
    Some(child)
}

/// Stop `perf` with SIGINT so it writes its file.
pub fn perf_stop(perf: Option<Child>) {
    if let Some(mut p) = perf {
        let _ = Command::new("kill").args(["-INT", &p.id().to_string()]).status();
        let _ = p.wait();
    }
}

//! Pinning benchrig's own threads, so that on a small machine the load generator and the
//! sampler stay off the CPUs given to the server under test.

/// Pins the calling thread to `cpus` (any of them). A failure is a warning, not an error: the
/// run is still valid, only less isolated.
pub fn pin_current_thread(cpus: &[usize], what: &str) {
    let mut set = nix::sched::CpuSet::new();
    for &cpu in cpus {
        if set.set(cpu).is_err() {
            eprintln!("benchrig: warning: cannot pin {what} to CPU {cpu}: no such CPU");
            return;
        }
    }
    if let Err(e) = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set) {
        eprintln!("benchrig: warning: cannot pin {what} to CPUs {cpus:?}: {e}");
    }
}

/// The CPUs benchrig may use (its affinity), in order.
pub fn available_cpus() -> Vec<usize> {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count())
            .filter(|cpu| set.is_set(*cpu).unwrap_or(false))
            .collect(),
        Err(_) => (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect(),
    }
}

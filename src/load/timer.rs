//! Sub-millisecond wake-ups for the open model. Tokio's timers tick in whole milliseconds, so a
//! request due at t would go out up to 1 ms late — and in the open model that lateness counts as
//! latency. A timerfd armed with the exact remaining time, awaited through tokio's reactor,
//! wakes within tens of microseconds without spinning.

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// A one-shot timer with nanosecond deadlines; falls back to tokio's timer if the kernel has
/// no timerfd.
pub struct PreciseTimer {
    fd: Option<AsyncFd<Fd>>,
}

impl PreciseTimer {
    /// Must be called inside a tokio runtime. Also lowers the calling thread's timer slack, so
    /// the kernel does not batch its wake-ups (50 µs by default).
    pub fn new() -> PreciseTimer {
        let _ = nix::sys::prctl::set_timerslack(1);
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .ok()
        .and_then(|fd| {
            // SAFETY: `Fd` owns the timerfd and always returns that same open descriptor.
            unsafe { AsyncFd::register_with_interest(Fd(fd), Interest::READABLE) }.ok()
        });
        PreciseTimer { fd }
    }

    pub async fn sleep_until(&self, deadline: Instant) {
        let now = Instant::now();
        if deadline <= now {
            return;
        }
        let Some(fd) = &self.fd else {
            tokio::time::sleep_until(deadline.into()).await;
            return;
        };
        let remaining = TimeSpec::from_duration(deadline - now);
        if fd
            .get_ref()
            .0
            .set(Expiration::OneShot(remaining), TimerSetTimeFlags::empty())
            .is_err()
        {
            tokio::time::sleep_until(deadline.into()).await;
            return;
        }
        loop {
            let Ok(mut guard) = fd.readable().await else {
                return tokio::time::sleep_until(deadline.into()).await;
            };
            match nix::unistd::read(fd.get_ref().0.as_fd(), &mut [0u8; 8]) {
                Ok(_) => return,
                Err(Errno::EAGAIN) => guard.clear_ready(),
                Err(Errno::EINTR) => {}
                Err(_) => return tokio::time::sleep_until(deadline.into()).await,
            }
        }
    }
}

impl Default for PreciseTimer {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread")]
    async fn wakes_at_the_deadline_not_a_tick_later() {
        let timer = PreciseTimer::new();
        assert!(timer.fd.is_some(), "timerfd is available on Linux");
        let mut late = Vec::new();
        for i in 0..50u64 {
            // Deadlines between whole milliseconds, where a tick-based timer is worst.
            let deadline = Instant::now() + Duration::from_micros(300 + i * 17);
            timer.sleep_until(deadline).await;
            let now = Instant::now();
            assert!(now >= deadline, "woke before the deadline");
            late.push(now - deadline);
        }
        late.sort();
        // The median wake-up is well under tokio's 1 ms tick even on a busy machine.
        assert!(
            late[25] < Duration::from_micros(500),
            "median lateness {:?}",
            late[25]
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn past_deadlines_return_at_once() {
        let timer = PreciseTimer::new();
        let started = Instant::now();
        timer.sleep_until(started - Duration::from_millis(5)).await;
        assert!(started.elapsed() < Duration::from_millis(5));
    }
}

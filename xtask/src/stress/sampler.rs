//! The memory of both servers, every [`INTERVAL`], from
//! `/proc/<pid>/status` on a thread of its own, so a busy runtime cannot
//! delay a sample.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::bench::servers;

/// How often memory is read.
pub const INTERVAL: Duration = Duration::from_millis(250);

/// One reading: seconds since the sampler started, and each server's
/// `VmRSS` in KiB (`None` when its process was gone).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub seconds: f64,
    pub as_kib: Option<u64>,
    pub rs_kib: Option<u64>,
}

/// The sampling thread; [`Sampler::finish`] stops it and returns every
/// sample.
#[derive(Debug)]
pub struct Sampler {
    started: Instant,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Sampler {
    /// Starts sampling the processes `as_pid` and `rs_pid`.
    pub fn start(as_pid: u32, rs_pid: u32) -> Self {
        let started = Instant::now();
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (samples, stop) = (samples.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let sample = Sample {
                        seconds: started.elapsed().as_secs_f64(),
                        as_kib: rss_kib(as_pid),
                        rs_kib: rss_kib(rs_pid),
                    };
                    if let Ok(mut samples) = samples.lock() {
                        samples.push(sample);
                    }
                    next += INTERVAL;
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
            })
        };
        Self {
            started,
            samples,
            stop,
            thread,
        }
    }

    /// Seconds since the sampler started: the clock of every [`Sample`].
    pub fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Stops the thread and returns the samples, oldest first.
    pub fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        let samples = self.samples.lock().map(|s| s.clone());
        samples.unwrap_or_default()
    }
}

/// `VmRSS` of a live process. A zombie (a server that exited but was not
/// reaped yet) has no `VmRSS` line, so it reads as gone too.
fn rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    servers::parse_status(&text).map(|memory| memory.rss_kib)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This process is alive and has memory; a pid beyond `pid_max` is not.
    #[test]
    fn samples_read_live_processes_only() {
        let me = std::process::id();
        let sampler = Sampler::start(me, u32::MAX);
        std::thread::sleep(INTERVAL + INTERVAL / 2);
        let samples = sampler.finish();
        assert!(samples.len() >= 2, "{samples:?}");
        assert!(samples.iter().all(|s| s.as_kib.is_some_and(|kib| kib > 0)));
        assert!(samples.iter().all(|s| s.rs_kib.is_none()));
        assert!(samples.windows(2).all(|w| w[0].seconds < w[1].seconds));
    }
}

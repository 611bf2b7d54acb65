//! What the service holds between requests: the current snapshot of the
//! index (SPEC.md H-3), a pool of query scratch, latency figures, and the
//! state of its watch; the health score (H-4).

use crate::engine::index::QueryContext;
use crate::error::{Error, Result};
use crate::search::searcher::Searcher;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// Latencies kept for `/health` (the most recent ones).
pub const LATENCY_WINDOW: usize = 1024;

/// What `/search` and `/batch` run on.
pub enum Phase {
    /// The index is being opened (503).
    Opening,
    Ready(Arc<Searcher>),
    /// Opening failed; the service answers 503 with this error.
    Failed(String),
}

/// The watch's state, for `/health`.
#[derive(Clone, Debug, Default)]
pub struct WatchState {
    pub enabled: bool,
    /// Caught up with the tree and following its events (or polling).
    pub ready: bool,
    pub polling: bool,
    pub batches: u64,
    /// Seconds since the service started, at the last update applied.
    pub last_update_secs: Option<f64>,
    pub last_warning: Option<String>,
    /// The watch stopped on this error (the service keeps answering from
    /// its last snapshot).
    pub failed: Option<String>,
}

pub struct Service {
    phase: RwLock<Phase>,
    /// Bumped at every new snapshot.
    generation: AtomicU64,
    contexts: Mutex<Vec<QueryContext>>,
    /// The most recent searches: (milliseconds, succeeded).
    latencies: Mutex<VecDeque<(f64, bool)>>,
    pub queries: AtomicU64,
    pub errors: AtomicU64,
    pub rejected: AtomicU64,
    pub watch: Mutex<WatchState>,
    started: Instant,
}

impl Default for Service {
    fn default() -> Self {
        Service {
            phase: RwLock::new(Phase::Opening),
            generation: AtomicU64::new(0),
            contexts: Mutex::new(Vec::new()),
            latencies: Mutex::new(VecDeque::with_capacity(LATENCY_WINDOW)),
            queries: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            watch: Mutex::new(WatchState::default()),
            started: Instant::now(),
        }
    }
}

/// Latency figures over the window, milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    pub avg: f64,
    pub p50: f64,
    pub p99: f64,
}

impl Service {
    /// The snapshot searches run on now, or why there is none.
    pub fn snapshot(&self) -> std::result::Result<Arc<Searcher>, String> {
        match &*self.phase.read().unwrap_or_else(|p| p.into_inner()) {
            Phase::Ready(s) => Ok(s.clone()),
            Phase::Opening => Err("the index is still being opened".to_string()),
            Phase::Failed(e) => Err(format!("the index could not be opened: {e}")),
        }
    }

    pub fn is_opening(&self) -> bool {
        matches!(
            &*self.phase.read().unwrap_or_else(|p| p.into_inner()),
            Phase::Opening
        )
    }

    /// Searches from now on run on `s`; those running keep theirs.
    pub fn install(&self, s: Searcher) {
        let mut p = self.phase.write().unwrap_or_else(|p| p.into_inner());
        *p = Phase::Ready(Arc::new(s));
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn fail(&self, why: String) {
        *self.phase.write().unwrap_or_else(|p| p.into_inner()) = Phase::Failed(why);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// A new snapshot of the index as it is on disk now (H-3): opened
    /// beside the current one, which keeps answering meanwhile.
    pub fn refresh(&self) -> Result<()> {
        let cur = self
            .snapshot()
            .map_err(|e| Error::precondition(format!("no snapshot to refresh: {e}")))?;
        let next = cur.reopen()?;
        self.install(next);
        Ok(())
    }

    /// Scratch for one query, from the pool.
    pub fn context(&self) -> QueryContext {
        self.contexts
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_default()
    }

    /// Give a query's scratch back (at most a few are kept).
    pub fn give_back(&self, ctx: QueryContext) {
        if let Ok(mut v) = self.contexts.lock() {
            if v.len() < 64 {
                v.push(ctx);
            }
        }
    }

    pub fn record(&self, ms: f64, ok: bool) {
        self.queries.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut l) = self.latencies.lock() {
            if l.len() == LATENCY_WINDOW {
                l.pop_front();
            }
            l.push_back((ms, ok));
        }
    }

    pub fn latency(&self) -> Latency {
        let mut v: Vec<f64> = match self.latencies.lock() {
            Ok(l) => l.iter().map(|e| e.0).collect(),
            Err(_) => Vec::new(),
        };
        if v.is_empty() {
            return Latency::default();
        }
        v.sort_by(f64::total_cmp);
        let at = |p: f64| crate::bench::harness::percentile(&v, p);
        Latency {
            avg: v.iter().sum::<f64>() / v.len() as f64,
            p50: at(0.5),
            p99: at(0.99),
        }
    }

    /// Share of the searches in the window that failed (0 with none).
    pub fn recent_error_rate(&self) -> f64 {
        match self.latencies.lock() {
            Ok(l) if !l.is_empty() => l.iter().filter(|e| !e.1).count() as f64 / l.len() as f64,
            _ => 0.0,
        }
    }

    /// A copy of the watch's state.
    pub fn watch_state(&self) -> WatchState {
        self.watch.lock().map(|w| w.clone()).unwrap_or_default()
    }

    pub fn uptime_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// What the health score is computed from (SPEC.md H-4).
#[derive(Clone, Copy, Debug, Default)]
pub struct HealthInputs {
    /// `deltaIndexSize / mainIndexSize`.
    pub delta_ratio: f64,
    /// Searches answered with an error, of the last LATENCY_WINDOW (0..1).
    pub error_rate: f64,
    pub watch_failed: bool,
    /// A watch polling the whole tree (the OS limit on watches).
    pub watch_polling: bool,
}

/// The service's health score, 0..100 (SPEC.md H-4): 100, less 30 when the
/// delta is above 10% of the main index (the brief's rebuild trigger), less
/// 40 when the watch stopped, less 10 when it polls, less up to 40 for
/// queries that failed (40 × the error rate).
pub fn health_score(h: &HealthInputs) -> u32 {
    let mut s = 100.0;
    if h.delta_ratio > 0.10 {
        s -= 30.0;
    }
    if h.watch_failed {
        s -= 40.0;
    }
    if h.watch_polling {
        s -= 10.0;
    }
    s -= 40.0 * h.error_rate.clamp(0.0, 1.0);
    s.clamp(0.0, 100.0).round() as u32
}

/// `healthy` above 70 (the brief's REST pattern), `degraded` otherwise.
pub fn status_of(score: u32) -> &'static str {
    if score > 70 {
        "healthy"
    } else {
        "degraded"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_score_follows_its_definition() {
        let ok = HealthInputs::default();
        assert_eq!(health_score(&ok), 100);
        assert_eq!(status_of(health_score(&ok)), "healthy");
        let big_delta = HealthInputs {
            delta_ratio: 0.2,
            ..ok
        };
        assert_eq!(health_score(&big_delta), 70);
        assert_eq!(status_of(70), "degraded");
        let stopped = HealthInputs {
            watch_failed: true,
            ..ok
        };
        assert_eq!(health_score(&stopped), 60);
        let all = HealthInputs {
            delta_ratio: 1.0,
            error_rate: 1.0,
            watch_failed: true,
            watch_polling: true,
        };
        assert_eq!(health_score(&all), 0);
    }

    #[test]
    fn latency_window_keeps_the_latest() {
        let s = Service::default();
        assert_eq!(s.latency(), Latency::default());
        for i in 0..(LATENCY_WINDOW + 10) {
            s.record(i as f64, i % 2 == 0);
        }
        let l = s.latency();
        assert_eq!(
            s.queries.load(Ordering::Relaxed),
            LATENCY_WINDOW as u64 + 10
        );
        assert!(l.p50 >= 10.0 + (LATENCY_WINDOW as f64) / 2.0 - 1.0, "{l:?}");
        assert!(l.p99 > l.p50 && l.avg > 0.0);
        assert_eq!(s.recent_error_rate(), 0.5);
        for _ in 0..LATENCY_WINDOW {
            s.record(1.0, true);
        }
        // Old failures leave the window; the count since start stays.
        assert_eq!(s.recent_error_rate(), 0.0);
        assert_eq!(
            s.errors.load(Ordering::Relaxed),
            (LATENCY_WINDOW as u64 + 10) / 2
        );
    }
}

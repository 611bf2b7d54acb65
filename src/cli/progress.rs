//! Progress bars on stderr (indicatif), one per phase, with counts, rates
//! and ETA; hidden when stderr is not a terminal unless forced.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use leann::engine::index::Progress;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<&'static str, ProgressBar>>,
}

impl Bars {
    /// Shown when stderr is a terminal, or when `force` (`--progress`).
    pub fn new(force: bool) -> Bars {
        let target = if force || std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Bars {
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(HashMap::new()),
        }
    }

    pub fn update(&self, p: &Progress) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        let bar = bars.entry(p.phase).or_insert_with(|| {
            let b = self.multi.add(ProgressBar::new(p.total));
            let style = if p.total > 0 {
                ProgressStyle::with_template(
                    "{prefix:>10} [{bar:30}] {human_pos}/{human_len} {per_sec:>12} ETA {eta:>4} {elapsed_precise}",
                )
            } else {
                ProgressStyle::with_template("{prefix:>10} {spinner} {human_pos} {per_sec:>12} {elapsed_precise}")
            };
            if let Ok(s) = style {
                b.set_style(s.progress_chars("=> "));
            }
            b.set_prefix(p.phase);
            b
        });
        if p.total > 0 && bar.length() != Some(p.total) {
            bar.set_length(p.total);
            if let Ok(s) = ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {human_pos}/{human_len} {per_sec:>12} ETA {eta:>4} {elapsed_precise}",
            ) {
                bar.set_style(s.progress_chars("=> "));
            }
        }
        bar.set_position(p.done);
        if p.total > 0 && p.done >= p.total {
            bar.finish();
        }
    }

    pub fn finish(&self) {
        if let Ok(bars) = self.bars.lock() {
            for b in bars.values() {
                if !b.is_finished() {
                    b.finish();
                }
            }
        }
    }
}

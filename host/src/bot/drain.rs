//! Graceful shutdown: on SIGTERM (or Ctrl-C) a host stops taking commands, lets the ones
//! running finish up to a deadline, and answers the others — new ones at once, running ones
//! at the deadline — with a message saying the bot is restarting, so nobody waits on a
//! reply that never comes.

use std::time::Duration;
use tokio::sync::watch;

/// How long running commands get to finish unless the caller says otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(20);

/// The answer to a command that arrives while the host is shutting down.
pub const REFUSED: &str =
    "The bot is restarting, so this command did not run. Try again in a minute.";
/// The answer to a command still running at the shutdown deadline.
pub const CUT: &str = "The bot is restarting and this command did not finish in time; it was stopped and may have done part of its work. Check before running it again.";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Serving,
    /// No new commands; running ones may finish.
    Draining,
    /// The deadline passed: running ones are answered with [`CUT`].
    Over,
}

/// The host's commands in flight, and whether it is shutting down.
pub struct Drain {
    state: watch::Sender<(Phase, usize)>,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            state: watch::Sender::new((Phase::Serving, 0)),
        }
    }
}

/// One command in flight; it is counted until dropped.
pub struct Ticket<'a>(&'a Drain);

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.0.state.send_modify(|(_, n)| *n -= 1);
    }
}

impl Drain {
    /// Count a command in, unless the host is shutting down (then `None`: answer [`REFUSED`]).
    pub fn enter(&self) -> Option<Ticket<'_>> {
        let mut admitted = false;
        self.state.send_if_modified(|(phase, n)| {
            if *phase == Phase::Serving {
                *n += 1;
                admitted = true;
            }
            admitted
        });
        // (`then`, not `then_some`: a Ticket made and dropped would count a command out.)
        admitted.then(|| Ticket(self))
    }

    /// Resolves when the deadline has passed: a running command then answers [`CUT`].
    pub async fn cut(&self) {
        let mut rx = self.state.subscribe();
        let _ = rx.wait_for(|(phase, _)| *phase == Phase::Over).await;
    }

    pub fn is_draining(&self) -> bool {
        self.state.borrow().0 != Phase::Serving
    }

    /// Stop taking commands, wait up to `deadline` for the running ones, then cut those
    /// left and wait (briefly) until they have answered. Returns how many were cut.
    pub async fn drain(&self, deadline: Duration) -> usize {
        self.state.send_modify(|(phase, _)| {
            if *phase == Phase::Serving {
                *phase = Phase::Draining
            }
        });
        let mut rx = self.state.subscribe();
        let running = self.state.borrow().1;
        if running > 0 {
            tracing::info!(
                "shutting down: waiting up to {deadline:?} for {running} running command(s)"
            );
        }
        let finished = tokio::time::timeout(deadline, rx.wait_for(|(_, n)| *n == 0))
            .await
            .is_ok();
        let cut = if finished { 0 } else { self.state.borrow().1 };
        self.state.send_modify(|(phase, _)| *phase = Phase::Over);
        if cut > 0 {
            tracing::warn!("shutting down: {cut} command(s) did not finish in time and were answered that the bot is restarting");
            let _ =
                tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|(_, n)| *n == 0)).await;
        }
        cut
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C), saying which.
pub async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "SIGINT",
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

/// Resolves on SIGTERM only (the shell leaves Ctrl-C to the terminal).
pub async fn terminated() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            term.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn running_commands_finish_new_ones_are_refused_and_late_ones_cut() {
        let d = Arc::new(Drain::default());
        let quick = d.enter().unwrap();
        let slow = d.enter().unwrap();
        let d2 = d.clone();
        let draining = tokio::spawn(async move { d2.drain(Duration::from_millis(300)).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(d.is_draining());
        assert!(d.enter().is_none(), "no new commands while draining");
        drop(quick);
        // The slow one is still running at the deadline: it is told to answer CUT.
        tokio::time::timeout(Duration::from_secs(5), d.cut())
            .await
            .unwrap();
        drop(slow);
        assert_eq!(draining.await.unwrap(), 1);
        assert!(d.enter().is_none());
    }

    #[tokio::test]
    async fn nothing_running_drains_at_once() {
        let d = Drain::default();
        let started = std::time::Instant::now();
        assert_eq!(d.drain(Duration::from_secs(10)).await, 0);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}

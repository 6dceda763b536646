//! Test hooks that stop a saga dead, as if the process had died there, and
//! tell the test where it stopped. Compiled only with the `testing` feature.

use std::future::Future;

use tokio::{net::TcpListener, sync::mpsc};

use crate::{
    Config,
    domain::{OrderId, SagaState},
};

/// [`crate::run`] with every saga halting where `hooks` say.
pub async fn run_with_hooks(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    hooks: Hooks,
) -> anyhow::Result<()> {
    crate::serve(config, listener, shutdown, |saga| saga.with_hooks(hooks)).await
}

/// Where in a saga to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltPoint {
    /// Right after this state is persisted (before the call it names).
    After(SagaState),
    /// Right after the call of this state answered, before its outcome is
    /// persisted.
    BeforeLeaving(SagaState),
}

/// A saga that stopped at the hooked point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Halted {
    pub at: HaltPoint,
    pub order_id: OrderId,
}

/// Halts every saga that reaches one point; none by default.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    halt_at: Option<HaltPoint>,
    reached: Option<mpsc::UnboundedSender<Halted>>,
}

impl Hooks {
    /// Hooks that halt at `point`, and the receiver told of each saga that
    /// halts there.
    pub fn halt_at(point: HaltPoint) -> (Self, mpsc::UnboundedReceiver<Halted>) {
        let (reached, halted) = mpsc::unbounded_channel();
        let hooks = Self {
            halt_at: Some(point),
            reached: Some(reached),
        };
        (hooks, halted)
    }

    /// Never returns if `point` is the hooked one.
    pub(crate) async fn check(&self, point: HaltPoint, order_id: OrderId) {
        if self.halt_at != Some(point) {
            return;
        }
        tracing::warn!(%order_id, ?point, "halting (test hook)");
        if let Some(reached) = &self.reached {
            // The test may have stopped listening; halting is what matters.
            let _ = reached.send(Halted {
                at: point,
                order_id,
            });
        }
        std::future::pending::<()>().await;
    }
}

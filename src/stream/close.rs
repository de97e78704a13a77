//! When and why the server lets a listener go: the one-second queue limit every transport
//! shares, and the reasons it gives.

/// Ticks queued per listener at most (1 s of audio); one more and the listener is dropped.
pub const QUEUE_TICKS: usize = 10;

/// Why the server ends a listener's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Its queue held a second of audio it had not taken.
    TooSlow,
    /// The daemon is stopping.
    ShuttingDown,
}

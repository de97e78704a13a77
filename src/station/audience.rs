//! Who is listening: a limited number of places, and each listener's presence, announced
//! as it arrives and as it leaves (to the journal and to the event stream).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Station;
use super::event::Event;

/// Listener places taken, of whatever limit the caller applies.
#[derive(Debug, Default)]
pub struct Places(AtomicUsize);

impl Places {
    /// Places taken now.
    pub fn taken(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// A listener place; dropping it frees the place.
#[derive(Debug)]
pub struct Seat {
    station: Arc<Station>,
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.station.places.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Station {
    /// Takes one of `max` listener places (reserved before a WebSocket upgrade or a stream
    /// response), or `None` when all are taken.
    pub fn reserve(self: &Arc<Self>, max: usize) -> Option<Seat> {
        let taken = self.places.0.fetch_add(1, Ordering::AcqRel);
        if taken >= max {
            self.places.0.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Seat {
            station: self.clone(),
        })
    }

    /// Listener places taken now.
    pub fn listeners(&self) -> usize {
        self.places.taken()
    }
}

/// A connected listener: holds its place, announces it on creation and its departure when
/// dropped.
#[derive(Debug)]
pub struct Presence {
    addr: SocketAddr,
    seat: Option<Seat>,
    reason: Option<&'static str>,
}

impl Presence {
    /// Announces a listener from `addr` on transport `kind` that took `seat`.
    pub fn join(seat: Seat, addr: SocketAddr, kind: &'static str) -> Presence {
        let station = &seat.station;
        station.publish(Event::ListenerJoined {
            addr,
            kind,
            listeners: station.listeners() as u32,
        });
        Presence {
            addr,
            seat: Some(seat),
            reason: None,
        }
    }

    /// The listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Why the server let the listener go (e.g. "too slow"), for the departure notice.
    pub fn set_reason(&mut self, reason: &'static str) {
        self.reason = Some(reason);
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        let Some(seat) = self.seat.take() else {
            return;
        };
        let station = seat.station.clone();
        // Free the place first, so the count in the notice excludes this listener.
        drop(seat);
        station.publish(Event::ListenerLeft {
            addr: self.addr,
            listeners: station.listeners() as u32,
            reason: self.reason,
        });
    }
}

//! The TCP connections each IP address holds, and `[limits] connections_per_address`: one
//! client (a slowloris, a runaway script) cannot take every descriptor and every place.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Connections open per address.
#[derive(Debug, Default)]
pub struct PerAddress {
    /// Address → (connections open, whether its refusal was logged since it was last under
    /// the cap).
    open: Mutex<HashMap<IpAddr, (usize, bool)>>,
}

/// One connection's place in its address's count; given back when dropped.
#[derive(Debug)]
pub struct Held {
    owner: Arc<PerAddress>,
    address: IpAddr,
}

/// A refusal: the address already holds `cap` connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Whether this is the first refusal since the address was last under the cap (the
    /// caller logs only that one).
    pub first: bool,
}

impl PerAddress {
    /// Counts a new connection from `address`, unless it already holds `cap`.
    pub fn admit(self: &Arc<Self>, address: IpAddr, cap: usize) -> Result<Held, Refused> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let (count, logged) = open.entry(address).or_insert((0, false));
        if *count >= cap {
            let first = !*logged;
            *logged = true;
            return Err(Refused { first });
        }
        *count += 1;
        *logged = false;
        Ok(Held {
            owner: self.clone(),
            address,
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut open = self.owner.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((count, _)) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_the_cap_and_gets_places_back() {
        let counts = Arc::new(PerAddress::default());
        let one: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        let first = counts.admit(one, 2).unwrap();
        let _second = counts.admit(one, 2).unwrap();
        assert_eq!(counts.admit(one, 2).unwrap_err(), Refused { first: true });
        assert_eq!(counts.admit(one, 2).unwrap_err(), Refused { first: false });
        assert!(
            counts.admit(other, 2).is_ok(),
            "another address is not affected"
        );
        drop(first);
        assert!(
            counts.admit(one, 2).is_ok(),
            "a place freed is a place again"
        );
    }
}

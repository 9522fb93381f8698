//! The connection layer under Volo: who gets a connection, and what a
//! connection may send.
//!
//! - [`admission`]: accepts connections up to a limit fitted to the file
//!   descriptor limit, survives accept errors, stops accepting the moment
//!   shutdown begins.
//! - [`guard`]: wraps each connection's reader and writer inside Volo's
//!   codec: every byte passes the [`scan`] validator, a request must arrive
//!   whole within the read timeout, an idle connection is closed after the
//!   idle timeout, a reply the client does not take is abandoned after the
//!   write timeout.
//! - [`trim`]: gives the memory of closed connections back to the system
//!   once a spike of them is over.
//!
//! Volo owns the accept loop and the codec, so these are the seams it
//! offers: its `Incoming` trait for accepting and its `MakeCodec` trait,
//! which receives each connection's read and write halves.
pub mod admission;
pub mod guard;
pub mod scan;
pub mod trim;

pub use admission::{Admission, Connections};
pub use guard::{ConnectionLimits, GuardedMakeCodec, PendingBytes};

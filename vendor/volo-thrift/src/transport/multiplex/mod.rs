mod client;
mod server;
mod thrift_transport;

pub use client::Client;
pub use server::serve;

//! The mesh over real sockets and real TLS: a tonic server behind the mTLS
//! listener and the authorization layer, called by clients with the right,
//! the wrong and no identity.

mod resilience;
mod support;
mod tls;

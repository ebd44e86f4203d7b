//! TLS termination: certificates read from PEM (`cert`) and the per-handshake choice of one by
//! SNI (`sni`).

pub mod cert;
pub mod sni;

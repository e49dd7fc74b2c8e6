//! TLS for the webhook: certificate store and reloader (Kubernetes Secret layout, `..data`
//! symlink swaps), rustls server configuration (ring, TLS 1.2+), and the HTTPS accept loop.

mod reload;
mod server;
mod store;

pub use reload::{RELOAD_INTERVAL, Reloader};
pub use server::{MAX_CONNECTIONS, ServerTimeouts, serve_tls};
pub use store::{
    CERT_FILE, CertStore, KEY_FILE, PairBytes, TlsError, load_pair, parse_pair, parse_pair_at, read_pair,
    server_config, validity,
};

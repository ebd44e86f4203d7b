//! dhow-proxy: the reverse proxy that runs on every server (work in progress).

fn main() {}

//! The demo app dhow deploys to its sandbox (work in progress).

fn main() {}

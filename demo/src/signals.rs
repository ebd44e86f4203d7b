//! SIGTERM handling: as PID 1 in a container the default action is ignored, so a waiting
//! thread exits the process when `docker stop` sends SIGTERM.

pub fn exit_on_sigterm() {
    // SAFETY: plain libc signal-mask calls on a locally owned sigset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        std::thread::spawn(move || {
            let mut sig: libc::c_int = 0;
            libc::sigwait(&set, &mut sig);
            println!("demo: got signal {sig}, exiting");
            std::process::exit(0);
        });
    }
}

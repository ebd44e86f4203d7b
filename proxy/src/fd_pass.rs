//! Handing open sockets from one process to another over a unix socket (SCM_RIGHTS), so the
//! port holder (`ports_holder.rs`) can give every proxy process the same listening sockets.
//! One message carries a short payload and its descriptors; nix does the `sendmsg`/`recvmsg`
//! and control-message encoding (a well-kept crate rather than hand-written cmsg arithmetic).

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The most descriptors one message carries (the kernel's SCM_MAX_FD is 253).
pub const MAX_FDS: usize = 253;

/// Send `payload` with `fds` on the connected unix socket `sock`.
pub fn send(sock: &impl AsRawFd, payload: &[u8], fds: &[RawFd]) -> std::io::Result<()> {
    if fds.len() > MAX_FDS {
        return Err(std::io::Error::other(format!(
            "{} descriptors do not fit one message (at most {MAX_FDS})",
            fds.len()
        )));
    }
    let iov = [IoSlice::new(payload)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    let sent = sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(std::io::Error::from)?;
    if sent != payload.len() {
        return Err(std::io::Error::other("the message was cut short"));
    }
    Ok(())
}

/// Receive one message: its payload (up to `max_payload` bytes) and the descriptors with it,
/// each owned (closed on drop) and close-on-exec.
pub fn recv(sock: &impl AsRawFd, max_payload: usize) -> std::io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut buf = vec![0u8; max_payload];
    let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
    let (bytes, raw) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(std::io::Error::from)?;
        let mut raw = Vec::new();
        for c in msg.cmsgs().map_err(std::io::Error::from)? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                raw.extend(fds);
            }
        }
        (msg.bytes, raw)
    };
    // SAFETY: the kernel just installed these descriptors in this process for us alone.
    let fds = raw
        .into_iter()
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    buf.truncate(bytes);
    Ok((buf, fds))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_listening_socket_passed_over_a_unix_socket_accepts_in_the_receiver() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (a, b) = UnixStream::pair().expect("pair");
        super::send(&a, b"hello", &[listener.as_raw_fd()]).expect("send");
        drop(listener);
        let (payload, fds) = super::recv(&b, 1024).expect("recv");
        assert_eq!(payload, b"hello");
        assert_eq!(fds.len(), 1);
        let received = std::net::TcpListener::from(fds.into_iter().next().expect("fd"));
        let mut client = std::net::TcpStream::connect(addr).expect("connect");
        let (mut server, _) = received.accept().expect("accept");
        client.write_all(b"x").expect("write");
        let mut got = [0u8; 1];
        server.read_exact(&mut got).expect("read");
        assert_eq!(&got, b"x");
    }
}

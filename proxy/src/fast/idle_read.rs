//! Reading a client's next bytes without the connection holding a buffer while it waits.
//!
//! A keep-alive connection spends most of its life waiting for its next request. Reading into
//! the connection's own `Vec` would keep that Vec's capacity (pages the kernel has to back)
//! for as long as the client stays idle: with 10,000 idle browsers that is 10,000 buffers.
//! Here each poll borrows the thread's one read buffer, and only the bytes that arrived are
//! copied into the connection's `Vec`, sized to them. A pending read holds nothing.

use std::cell::RefCell;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;
use tokio::io::{AsyncRead, ReadBuf};

/// The size of the per-thread read buffer: one TLS record, or a large request head.
const READ_SIZE: usize = 16 * 1024;

thread_local! {
    static READ: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; READ_SIZE].into_boxed_slice());
}

/// Read what the client sent next and append it to `buf`. Ok(0): the client closed.
pub async fn read_appending<S>(client: &mut S, buf: &mut Vec<u8>) -> std::io::Result<usize>
where
    S: AsyncRead + Unpin,
{
    poll_fn(|cx| {
        READ.with(|cell| {
            // Borrowed only within this poll: no await happens while it is held. A nested
            // use (not possible: poll_read does not call back into the proxy) would read
            // into a buffer of its own instead.
            let Ok(mut spare) = cell.try_borrow_mut() else {
                let mut own = vec![0u8; READ_SIZE];
                return poll_into(&mut *client, cx, &mut own, buf);
            };
            poll_into(&mut *client, cx, &mut spare, buf)
        })
    })
    .await
}

fn poll_into<S>(
    client: &mut S,
    cx: &mut std::task::Context<'_>,
    spare: &mut [u8],
    buf: &mut Vec<u8>,
) -> Poll<std::io::Result<usize>>
where
    S: AsyncRead + Unpin,
{
    let mut read = ReadBuf::new(spare);
    match Pin::new(client).poll_read(cx, &mut read) {
        Poll::Ready(Ok(())) => {
            let got = read.filled();
            buf.extend_from_slice(got);
            Poll::Ready(Ok(got.len()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn appends_what_arrives_and_sees_the_close() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let mut buf = Vec::new();
        a.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let n = read_appending(&mut b, &mut buf).await.unwrap();
        assert_eq!(n, 16);
        a.write_all(b"\r\n").await.unwrap();
        read_appending(&mut b, &mut buf).await.unwrap();
        assert_eq!(buf, b"GET / HTTP/1.1\r\n\r\n");
        drop(a);
        assert_eq!(read_appending(&mut b, &mut buf).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_pending_read_holds_no_buffer() {
        let (_a, mut b) = tokio::io::duplex(64);
        let mut buf = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            read_appending(&mut b, &mut buf),
        )
        .await;
        assert!(read.is_err(), "nothing was sent");
        assert_eq!(buf.capacity(), 0);
    }
}

//! Reads for a connection whose protocol code gives its read buffer back while it waits (the
//! patched h2, vendor/h2/PATCHES.md): when bytes come, that code asks again with a tiny buffer
//! and grows it step by step. So that this costs no extra system calls, a read into a small
//! buffer goes to this thread's stock (16 KiB, one per data-plane thread) in one call, and
//! what did not fit waits in a per-connection overflow that exists only until it is taken.
//! Large reads go straight to the socket. Hand-written: no crate offers a read-side stock.

use bytes::{Buf, BytesMut};
use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A read buffer smaller than this reads through the stock.
const SMALL: usize = 4096;
const STOCK: usize = 16 * 1024;

thread_local! {
    static STOCK_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; STOCK].into_boxed_slice());
}

/// `inner` with stocked reads; writes pass straight through.
pub struct StockIo<T> {
    inner: T,
    /// Read from the socket, not yet asked for (empty: no allocation).
    overflow: BytesMut,
}

impl<T> StockIo<T> {
    pub fn new(inner: T) -> StockIo<T> {
        StockIo {
            inner,
            overflow: BytesMut::new(),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StockIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.overflow.is_empty() {
            let n = this.overflow.len().min(buf.remaining());
            buf.put_slice(&this.overflow[..n]);
            this.overflow.advance(n);
            if this.overflow.is_empty() {
                this.overflow = BytesMut::new();
            }
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= SMALL {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        STOCK_BUF.with(|stock| {
            let Ok(mut stock) = stock.try_borrow_mut() else {
                // Not expected (one read at a time per thread); read directly then.
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            };
            let mut read = ReadBuf::new(&mut stock[..]);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) => {
                    let got = read.filled();
                    let n = got.len().min(buf.remaining());
                    buf.put_slice(&got[..n]);
                    this.overflow.extend_from_slice(&got[n..]);
                    Poll::Ready(Ok(()))
                }
                other => other,
            }
        })
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StockIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn small_reads_get_every_byte_in_order_from_one_socket_read() {
        let (mut a, b) = tokio::io::duplex(64 * 1024);
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        a.write_all(&data).await.unwrap();
        drop(a);
        let mut io = StockIo::new(b);
        let mut got = Vec::new();
        let mut size = 8;
        loop {
            let mut chunk = vec![0; size];
            let n = io.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
            size = (size * 2).min(8192);
        }
        assert_eq!(got, data);
        assert_eq!(io.overflow.capacity(), 0, "nothing held once all is read");
    }
}

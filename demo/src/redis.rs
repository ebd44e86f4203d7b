//! Just enough of Redis's protocol (RESP) for the demo: PING and INCR against the Redis at
//! `REDIS_HOST` (port `REDIS_PORT`, 6379), one short connection per call, with timeouts.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(2);

fn connect() -> Result<TcpStream, String> {
    let host = std::env::var("REDIS_HOST").map_err(|_| "REDIS_HOST is not set".to_string())?;
    let port = std::env::var("REDIS_PORT").unwrap_or_else(|_| "6379".into());
    let addr = format!("{host}:{port}")
        .to_socket_addrs()
        .map_err(|e| format!("resolving {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let s =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("{host}:{port}: {e}"))?;
    s.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    Ok(s)
}

/// Send one command (as a RESP array of bulk strings) and return the reply's first line.
fn call(args: &[&str]) -> Result<String, String> {
    let mut s = connect()?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let line = line.trim_end().to_string();
    match line.chars().next() {
        Some('-') => Err(line[1..].to_string()),
        Some(_) => Ok(line),
        None => Err("connection closed without a reply".into()),
    }
}

pub fn ping() -> Result<(), String> {
    match call(&["PING"])?.as_str() {
        "+PONG" => Ok(()),
        other => Err(format!("unexpected reply to PING: {other}")),
    }
}

pub fn incr(key: &str) -> Result<i64, String> {
    let reply = call(&["INCR", key])?;
    reply
        .strip_prefix(':')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("unexpected reply to INCR: {reply}"))
}

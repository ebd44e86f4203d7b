//! Just enough of PostgreSQL's wire protocol (v3) for `/db`: connect, authenticate (SCRAM-SHA-256,
//! the server default, or a cleartext password request), run one simple query and return the
//! rows as text. Configured by DATABASE_HOST, DATABASE_PORT (5432), DATABASE_USER,
//! DATABASE_PASSWORD and DATABASE_NAME (the user's name).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Rows of text values (`None` for NULL).
pub type Rows = Vec<Vec<Option<String>>>;

/// One session with the database the environment names.
pub struct Session {
    s: TcpStream,
}

impl Session {
    /// Connect and authenticate (DATABASE_HOST, DATABASE_PORT, DATABASE_USER,
    /// DATABASE_PASSWORD, DATABASE_NAME).
    pub fn from_env() -> Result<Session, String> {
        let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
        let host = var("DATABASE_HOST")?;
        let port = std::env::var("DATABASE_PORT").unwrap_or_else(|_| "5432".into());
        let user = var("DATABASE_USER")?;
        let password = std::env::var("DATABASE_PASSWORD").unwrap_or_default();
        let db = std::env::var("DATABASE_NAME").unwrap_or_else(|_| user.clone());
        let addr = format!("{host}:{port}");
        let resolved = std::net::ToSocketAddrs::to_socket_addrs(&addr)
            .map_err(|e| format!("cannot resolve {addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("{addr} resolves to nothing"))?;
        let mut s = TcpStream::connect_timeout(&resolved, Duration::from_secs(10))
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        startup(&mut s, &user, &db, &password)?;
        Ok(Session { s })
    }

    /// Run `sql` (one or more statements: PostgreSQL runs a multi-statement simple query as
    /// one transaction) and return the rows of its results.
    pub fn query(&mut self, sql: &str) -> Result<Rows, String> {
        simple_query(&mut self.s, sql)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.s.write_all(&[b'X', 0, 0, 0, 4]);
    }
}

/// Run `sql` against the database the environment names.
pub fn query_from_env(sql: &str) -> Result<Rows, String> {
    Session::from_env()?.query(sql)
}

fn send(s: &mut TcpStream, tag: Option<u8>, body: &[u8]) -> Result<(), String> {
    let mut m = Vec::with_capacity(body.len() + 5);
    if let Some(t) = tag {
        m.push(t);
    }
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    s.write_all(&m).map_err(|e| format!("database write: {e}"))
}

fn recv(s: &mut TcpStream) -> Result<(u8, Vec<u8>), String> {
    let mut head = [0u8; 5];
    s.read_exact(&mut head)
        .map_err(|e| format!("database read: {e}"))?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if !(4..=64 << 20).contains(&len) {
        return Err("database sent a malformed message".into());
    }
    let mut body = vec![0u8; len - 4];
    s.read_exact(&mut body)
        .map_err(|e| format!("database read: {e}"))?;
    if head[0] == b'E' {
        return Err(format!("database error: {}", error_message(&body)));
    }
    Ok((head[0], body))
}

fn error_message(body: &[u8]) -> String {
    body.split(|b| *b == 0)
        .find(|f| f.first() == Some(&b'M'))
        .map(|f| String::from_utf8_lossy(&f[1..]).into_owned())
        .unwrap_or_else(|| "unknown".into())
}

fn startup(s: &mut TcpStream, user: &str, db: &str, password: &str) -> Result<(), String> {
    let mut b = 196608u32.to_be_bytes().to_vec();
    for (k, v) in [("user", user), ("database", db)] {
        b.extend_from_slice(k.as_bytes());
        b.push(0);
        b.extend_from_slice(v.as_bytes());
        b.push(0);
    }
    b.push(0);
    send(s, None, &b)?;
    let mut scram: Option<Scram> = None;
    loop {
        let (tag, body) = recv(s)?;
        match tag {
            b'R' => {
                let code = u32::from_be_bytes(body[..4].try_into().map_err(|_| "short auth")?);
                match code {
                    0 => {}
                    3 => {
                        let mut p = password.as_bytes().to_vec();
                        p.push(0);
                        send(s, Some(b'p'), &p)?;
                    }
                    10 => {
                        let sc = Scram::new();
                        let first = sc.client_first();
                        let mut p = b"SCRAM-SHA-256\0".to_vec();
                        p.extend_from_slice(&(first.len() as u32).to_be_bytes());
                        p.extend_from_slice(first.as_bytes());
                        send(s, Some(b'p'), &p)?;
                        scram = Some(sc);
                    }
                    11 => {
                        let sc = scram.as_mut().ok_or("SCRAM continue without start")?;
                        let fin =
                            sc.client_final(&String::from_utf8_lossy(&body[4..]), password)?;
                        send(s, Some(b'p'), fin.as_bytes())?;
                    }
                    12 => {
                        let sc = scram.as_ref().ok_or("SCRAM final without start")?;
                        sc.verify_server(&String::from_utf8_lossy(&body[4..]))?;
                    }
                    other => return Err(format!("unsupported authentication method {other}")),
                }
            }
            b'Z' => return Ok(()),
            _ => {}
        }
    }
}

fn simple_query(s: &mut TcpStream, sql: &str) -> Result<Rows, String> {
    let mut q = sql.as_bytes().to_vec();
    q.push(0);
    send(s, Some(b'Q'), &q)?;
    let mut rows = Vec::new();
    let mut failed = None;
    loop {
        // An error ends the statement, not the exchange: read on to ReadyForQuery so the
        // session stays usable, then report the first error.
        let (tag, body) = match recv(s) {
            Ok(m) => m,
            Err(e) if e.starts_with("database error") => {
                failed.get_or_insert(e);
                continue;
            }
            Err(e) => return Err(failed.unwrap_or(e)),
        };
        match tag {
            b'D' => rows.push(data_row(&body)?),
            b'Z' => return failed.map_or(Ok(rows), Err),
            _ => {}
        }
    }
}

fn data_row(b: &[u8]) -> Result<Vec<Option<String>>, String> {
    let bad = || "malformed data row".to_string();
    let n = u16::from_be_bytes(b.get(..2).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
    let mut at = 2;
    let mut row = Vec::new();
    for _ in 0..n {
        let len = i32::from_be_bytes(
            b.get(at..at + 4)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        );
        at += 4;
        if len < 0 {
            row.push(None);
            continue;
        }
        let v = b.get(at..at + len as usize).ok_or_else(bad)?;
        row.push(Some(String::from_utf8_lossy(v).into_owned()));
        at += len as usize;
    }
    Ok(row)
}

/// The client side of SCRAM-SHA-256 (RFC 5802/7677), without channel binding.
struct Scram {
    nonce: String,
    first_bare: String,
    server_signature: Vec<u8>,
}

impl Scram {
    fn new() -> Scram {
        let mut raw = [0u8; 18];
        if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
            let _ = f.read_exact(&mut raw);
        }
        let nonce = B64.encode(raw);
        Scram {
            first_bare: format!("n=,r={nonce}"),
            nonce,
            server_signature: Vec::new(),
        }
    }

    fn client_first(&self) -> String {
        format!("n,,{}", self.first_bare)
    }

    fn client_final(&mut self, server_first: &str, password: &str) -> Result<String, String> {
        let attr = |k: &str| {
            server_first
                .split(',')
                .find_map(|p| p.strip_prefix(k))
                .ok_or_else(|| format!("SCRAM: server message lacks {k}"))
        };
        let nonce = attr("r=")?;
        if !nonce.starts_with(&self.nonce) {
            return Err("SCRAM: server nonce does not extend ours".into());
        }
        let salt = B64.decode(attr("s=")?).map_err(|_| "SCRAM: bad salt")?;
        let iters: u32 = attr("i=")?
            .parse()
            .map_err(|_| "SCRAM: bad iteration count")?;
        let salted = hi(password.as_bytes(), &salt, iters);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key = Sha256::digest(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{},{server_first},{without_proof}", self.first_bare);
        let signature = hmac(&stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        self.server_signature = hmac(&hmac(&salted, b"Server Key"), auth.as_bytes());
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    fn verify_server(&self, server_final: &str) -> Result<(), String> {
        let v = server_final
            .strip_prefix("v=")
            .and_then(|v| B64.decode(v.trim_end_matches('\0')).ok())
            .ok_or("SCRAM: bad server final message")?;
        if v != self.server_signature {
            return Err("SCRAM: the server's signature does not match".into());
        }
        Ok(())
    }
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

/// PBKDF2-HMAC-SHA-256 with one output block (SCRAM's Hi).
fn hi(password: &[u8], salt: &[u8], iters: u32) -> Vec<u8> {
    let mut s = salt.to_vec();
    s.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password, &s);
    let mut out = u.clone();
    for _ in 1..iters {
        u = hmac(password, &u);
        out.iter_mut().zip(&u).for_each(|(o, x)| *o ^= x);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn scram_matches_rfc7677_example() {
        let mut sc = Scram {
            nonce: "rOprNGfwEbeRWgbNEkqO".into(),
            first_bare: "n=user,r=rOprNGfwEbeRWgbNEkqO".into(),
            server_signature: Vec::new(),
        };
        let fin = sc
            .client_final(
                "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                "pencil",
            )
            .unwrap();
        assert_eq!(
            fin,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        sc.verify_server("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
    }
}

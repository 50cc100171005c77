//! An RFC 862 echo server on tokio's multi-thread runtime (one worker per CPU it may run on), written as
//! tokio's own example (examples/echo.rs) writes one: a task per connection,
//! a 1 KiB buffer per task, read then write_all until end of stream.  One
//! line more than the example: TCP_NODELAY on each accepted connection, as
//! every server of the bench sets it.
//!
//!     tokio-echo-mt 127.0.0.1:PORT
//!
//! It prints "listening ADDR" once it listens (as `pushpoll serve echo`
//! does) and runs until it is killed.

use std::env;
use std::error::Error;
use std::io::Write;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let addr = env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening {}", listener.local_addr()?);
    std::io::stdout().flush()?;

    loop {
        let (mut socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        tokio::spawn(async move {
            let mut buf = vec![0; 1024];
            loop {
                let n = match socket.read(&mut buf).await {
                    Ok(0) => return,
                    Ok(n) => n,
                    Err(_) => return,
                };
                if socket.write_all(&buf[0..n]).await.is_err() {
                    return;
                }
            }
        });
    }
}

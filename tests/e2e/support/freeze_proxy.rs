//! A TCP relay between the operator and the apiserver that can freeze: while frozen it accepts
//! connections and keeps them open but passes no byte either way, which is what an apiserver
//! stopped with SIGSTOP looks like from outside (the kernel still accepts connections). TLS runs
//! end to end through it, so the operator's kubeconfig only swaps the server address.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct FreezeProxy {
    pub addr: std::net::SocketAddr,
    frozen: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FreezeProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FreezeProxy {
    /// Relays to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> FreezeProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let frozen = Arc::new(AtomicBool::new(false));
        let flag = frozen.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, flag) = (upstream.clone(), flag.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        relay(client, server, flag).await;
                    }
                });
            }
        });
        FreezeProxy { addr, frozen, task }
    }

    pub fn freeze(&self, frozen: bool) {
        self.frozen.store(frozen, Ordering::SeqCst);
    }

    /// A copy of `kubeconfig` whose server is this relay.
    pub fn kubeconfig(&self, kubeconfig: &Path, into: &Path) {
        let text = std::fs::read_to_string(kubeconfig).unwrap();
        let rewritten: Vec<String> = text
            .lines()
            .map(|line| match line.split_once("server:") {
                Some((indent, _)) => format!("{indent}server: https://{}", self.addr),
                None => line.to_string(),
            })
            .collect();
        std::fs::write(into, rewritten.join("\n")).unwrap();
    }
}

async fn relay(client: TcpStream, server: TcpStream, frozen: Arc<AtomicBool>) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        pump(client_read, server_write, frozen.clone()),
        pump(server_read, client_write, frozen)
    );
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        while frozen.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let Ok(read) = from.read(&mut buffer).await else {
            return;
        };
        if read == 0 {
            return;
        }
        while frozen.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

//! The TLS listener of one cluster: accepts connections and serves HTTP/1.1 with upgrades.

use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::cluster::Cluster;

/// Serves `cluster` on `listener` until `shutdown` turns true; open connections are dropped then.
pub fn spawn(
    cluster: Arc<Cluster>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let acceptor = TlsAcceptor::from(tls);
    tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            while conns.try_join_next().is_some() {}
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((tcp, _)) = accepted else { continue };
                    let acceptor = acceptor.clone();
                    let cluster = Arc::clone(&cluster);
                    conns.spawn(async move {
                        // A client that never finishes its handshake, or sends no request
                        // for the idle timeout, loses its connection.
                        let idle = cluster.limits.idle_timeout;
                        let Ok(Ok(stream)) = tokio::time::timeout(idle, acceptor.accept(tcp)).await else { return };
                        let svc = service_fn(move |req| crate::router::handle(Arc::clone(&cluster), req));
                        let _ = http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(idle)
                            .serve_connection(TokioIo::new(stream), svc)
                            .with_upgrades()
                            .await;
                    });
                }
                _ = shutdown.changed() => break,
            }
        }
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    })
}

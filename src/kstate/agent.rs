//! The thread that speaks to the state's cluster: a kube client on a runtime of its own, so that
//! the lease is renewed however busy the run's own runtime is, and so that the journal sink
//! (called synchronously by the scheduler) can wait for a write without blocking a runtime.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::sync::mpsc;

type Job = Box<dyn FnOnce(Client) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A connection to one context's API server, on its own thread.
pub(crate) struct Agent {
    jobs: Option<mpsc::UnboundedSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

/// How long a request may take before it counts as failed: a dropped connection must not hang a
/// run, and a lease must be renewed well within its duration.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl Agent {
    /// Connects to `context` of the kubeconfig at `kubeconfig` (default: `$KUBECONFIG`, then
    /// `~/.kube/config`). Fails with the kubeconfig's own complaint.
    pub(crate) fn connect(kubeconfig: Option<&Path>, context: &str) -> Result<Agent, String> {
        let (jobs, mut rx) = mpsc::unbounded_channel::<Job>();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let kubeconfig: Option<PathBuf> = kubeconfig.map(Path::to_path_buf);
        let context = context.to_string();
        let thread = std::thread::Builder::new()
            .name("meshbook-state".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let client = match client(kubeconfig.as_deref(), &context).await {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    while let Some(job) = rx.recv().await {
                        tokio::spawn(job(client.clone()));
                    }
                });
                // Leaving drops the runtime, which cancels what is still spawned (the renewal).
            })
            .map_err(|e| e.to_string())?;
        let agent = Agent {
            jobs: Some(jobs),
            thread: Some(thread),
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(agent),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the state connection's thread ended".into()),
        }
    }

    /// Runs `f` with the client on the agent's thread and waits for its result.
    pub(crate) fn call<T, F, Fut>(&self, f: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(Client) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        let (tx, rx) = std_mpsc::channel();
        self.spawn(move |client| async move {
            let _ = tx.send(f(client).await);
        });
        rx.recv().ok()
    }

    /// Starts `f` with the client on the agent's thread, in the background.
    pub(crate) fn spawn<F, Fut>(&self, f: F)
    where
        F: FnOnce(Client) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Box::new(move |client| Box::pin(f(client))));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop at once; background jobs end with it.
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn client(kubeconfig: Option<&Path>, context: &str) -> Result<Client, String> {
    let read = match kubeconfig {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    }
    .map_err(|e| format!("reading the kubeconfig: {e}"))?;
    let options = KubeConfigOptions {
        context: Some(context.to_string()),
        ..KubeConfigOptions::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(read, &options)
        .await
        .map_err(|e| format!("context `{context}`: {e}"))?;
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(REQUEST_TIMEOUT);
    config.write_timeout = Some(REQUEST_TIMEOUT);
    Client::try_from(config).map_err(|e| format!("context `{context}`: {e}"))
}

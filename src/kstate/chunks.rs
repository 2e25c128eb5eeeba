//! A run's journal on the Kubernetes API: Secrets of bounded size (`meshbook-run-ID-jN`), each
//! holding a run of writes as data keys: `journal.SEQ` (the journal's lines written by one sync),
//! `log.SEQ.STEP.log` (the tail of a step's log) and `clusters.SEQ` (the clusters' identities).
//! The last chunk is the head; a full head is closed and the next one created.
//!
//! **Fencing.** Every write names the head's resourceVersion as its precondition, so it lands only
//! if nothing else touched the head since this process last wrote it. A driver that takes a run
//! over first writes the head itself (its identity in `meshbook.dev/writer`), so every later
//! write of the old holder is refused with a conflict. A full head is closed (a conditional write
//! too) before the next is created, and creating an existing chunk fails: so neither path lets
//! two processes write.
//!
//! **Exactly once.** Each write carries a sequence number (`meshbook.dev/seq`). When the answer to
//! a write is lost (a dropped connection, a 5xx), the head is read back: if it says this process
//! wrote that sequence number, the write landed; if this process is still the writer, it is
//! tried again; otherwise the run was taken over.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::{api_error, labels, names};

/// How many bytes a chunk takes before the next write goes to a new one (Secrets hold at most
/// 1 MiB).
pub(crate) const CHUNK_BYTES: usize = 256 * 1024;

/// The most one write may hold; a larger journal write is split at line ends.
const WRITE_BYTES: usize = 768 * 1024;

/// How many times a write whose answer was lost is checked and tried again.
const ATTEMPTS: u32 = 10;

const WRITER: &str = "meshbook.dev/writer";
const SEQ: &str = "meshbook.dev/seq";
const CLOSED: &str = "meshbook.dev/closed";
const CHUNK: &str = "meshbook.dev/chunk";

/// One thing a write stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    /// Lines of the journal, whole.
    Journal(Vec<u8>),
    /// The kept tail of a step's log, by its file name (`STEP.log`).
    Log(String, Vec<u8>),
    /// `clusters.json`.
    Clusters(Vec<u8>),
}

impl Item {
    fn key(&self, seq: u64) -> String {
        match self {
            Item::Journal(_) => format!("journal.{seq:010}"),
            Item::Log(name, _) => format!("log.{seq:010}.{name}"),
            Item::Clusters(_) => format!("clusters.{seq:010}"),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Item::Journal(b) | Item::Log(_, b) | Item::Clusters(b) => b,
        }
    }
}

/// Why a write did not land.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// Another process writes the run now.
    Lost(String),
    /// The API server refused or could not be reached, every time it was tried.
    Api(String),
}

/// The writing end of a run's journal, held by the process that holds the run's lease.
#[derive(Debug)]
pub(crate) struct Writer {
    namespace: String,
    run: String,
    me: String,
    head: u32,
    head_rv: String,
    head_bytes: usize,
    /// The head was marked full: the next write starts a new chunk.
    head_closed: bool,
    next_seq: u64,
}

impl Writer {
    /// A writer of run `run` in `namespace` as `me`, before its first chunk.
    fn new(namespace: &str, run: &str, me: &str) -> Writer {
        Writer {
            namespace: namespace.to_string(),
            run: run.to_string(),
            me: me.to_string(),
            head: 0,
            head_rv: String::new(),
            head_bytes: 0,
            head_closed: false,
            next_seq: 0,
        }
    }

    /// Starts the journal of a new run: chunk 0 with `items`.
    pub(crate) async fn create(
        client: kube::Client,
        namespace: &str,
        run: &str,
        me: &str,
        items: Vec<Item>,
    ) -> Result<Writer, WriteError> {
        let mut writer = Writer::new(namespace, run, me);
        let api = writer.api(client);
        let mut groups = pack(items)?.into_iter();
        writer
            .start_chunk(&api, 0, &groups.next().unwrap_or_default(), true)
            .await?;
        writer.next_seq = 1;
        writer.write_groups(&api, groups).await?;
        Ok(writer)
    }

    /// Takes over the journal of an existing run (the caller holds its lease): the head is
    /// written with this process as its writer, which fences off the one before. Returns the
    /// writer and every chunk, as they were when the fence landed.
    pub(crate) async fn fence(
        client: kube::Client,
        namespace: &str,
        run: &str,
        me: &str,
    ) -> Result<(Writer, Vec<Secret>), WriteError> {
        let api: Api<Secret> = Api::namespaced(client, namespace);
        for _ in 0..ATTEMPTS {
            let mut chunks = list_chunks(&api, run).await?;
            let Some(head) = chunks.last().cloned() else {
                return Ok((Writer::new(namespace, run, me), chunks));
            };
            let index = chunk_index(&head).unwrap_or(0);
            let mut writer = Writer {
                namespace: namespace.to_string(),
                run: run.to_string(),
                me: me.to_string(),
                head: index,
                head_rv: head.metadata.resource_version.clone().unwrap_or_default(),
                head_bytes: data_bytes(&head),
                head_closed: false,
                next_seq: chunks.iter().map(last_seq).max().unwrap_or(0) + 1,
            };
            let fenced = if annotation(&head, CLOSED).is_some() {
                // The last holder closed it and died before the next: this process makes it.
                writer
                    .start_chunk(&api, index + 1, &[], false)
                    .await
                    .map(|()| None)
            } else {
                writer.patch_head(&api, &[], None).await.map(Some)
            };
            match fenced {
                Ok(Some(written)) => {
                    if let Some(last) = chunks.last_mut() {
                        *last = written;
                    }
                    return Ok((writer, chunks));
                }
                Ok(None) => return Ok((writer, chunks)),
                // The old holder wrote meanwhile: read again, then fence.
                Err(WriteError::Lost(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(WriteError::Api(format!(
            "run {run}: its journal kept changing while it was being taken over"
        )))
    }

    /// Stores `items`: log tails and identities before the journal lines that record them, in
    /// as few writes as the chunk size allows, each fenced and landing exactly once.
    pub(crate) async fn append(
        &mut self,
        client: kube::Client,
        items: Vec<Item>,
    ) -> Result<(), WriteError> {
        let api = self.api(client);
        self.write_groups(&api, pack(items)?.into_iter()).await
    }

    /// Writes each group as one write: into the head while it has room, else into a new chunk
    /// once the head is closed.
    async fn write_groups(
        &mut self,
        api: &Api<Secret>,
        groups: impl Iterator<Item = Vec<Item>>,
    ) -> Result<(), WriteError> {
        for group in groups {
            let size: usize = group.iter().map(|i| i.bytes().len()).sum();
            let full = self.head_bytes > 0 && self.head_bytes + size > CHUNK_BYTES;
            if full && !self.head_closed {
                self.close_head(api).await?;
            }
            if full || self.head_closed {
                self.start_chunk(api, self.head + 1, &group, true).await?;
            } else {
                self.patch_head(api, &group, Some(self.next_seq)).await?;
            }
            self.next_seq += 1;
        }
        Ok(())
    }

    fn api(&self, client: kube::Client) -> Api<Secret> {
        Api::namespaced(client, &self.namespace)
    }

    /// Writes `items` (and this process as the writer) into the head, on the condition that the
    /// head is as this process last saw it.
    async fn patch_head(
        &mut self,
        api: &Api<Secret>,
        items: &[Item],
        seq: Option<u64>,
    ) -> Result<Secret, WriteError> {
        let name = names::chunk(&self.run, self.head);
        let data: serde_json::Map<String, serde_json::Value> = items
            .iter()
            .map(|i| (i.key(self.next_seq), json!(b64(i.bytes()))))
            .collect();
        let mut annotations = json!({ WRITER: self.me });
        if let Some(seq) = seq {
            annotations[SEQ] = json!(seq.to_string());
        }
        for attempt in 0..ATTEMPTS {
            let patch = json!({
                "metadata": {"resourceVersion": self.head_rv, "annotations": annotations},
                "data": data,
            });
            let result = api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await;
            match result {
                Ok(written) => return Ok(self.adopt(written)),
                Err(kube::Error::Api(s)) if s.is_conflict() || s.is_not_found() => {}
                Err(e) if !super::transient(&e) => {
                    return Err(WriteError::Api(api_error(&format!("writing {name}"), &e)));
                }
                Err(e) => {
                    tracing::debug!("writing {name}: {e}");
                    backoff(attempt).await;
                }
            }
            // The answer was lost or the head changed: did this write land, or did another
            // process take over?
            match self.read_back(api, &name, seq).await? {
                Landed::Yes(written) => return Ok(self.adopt(written)),
                Landed::NotYet(current) => self.head_rv = rv(&current),
                Landed::TakenOver(by) => return Err(lost(&self.run, &by)),
            }
        }
        Err(WriteError::Api(format!(
            "writing {name}: no answer after {ATTEMPTS} tries"
        )))
    }

    /// Marks the head full, on the same condition as any write to it.
    async fn close_head(&mut self, api: &Api<Secret>) -> Result<(), WriteError> {
        let name = names::chunk(&self.run, self.head);
        for attempt in 0..ATTEMPTS {
            let patch = json!({"metadata": {
                "resourceVersion": self.head_rv,
                "annotations": {WRITER: self.me, CLOSED: "true"},
            }});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(written) => {
                    self.adopt(written);
                    self.head_closed = true;
                    return Ok(());
                }
                Err(kube::Error::Api(s)) if s.is_conflict() || s.is_not_found() => {}
                Err(e) if !super::transient(&e) => {
                    return Err(WriteError::Api(api_error(&format!("closing {name}"), &e)));
                }
                Err(e) => {
                    tracing::debug!("closing {name}: {e}");
                    backoff(attempt).await;
                }
            }
            let current = self.get(api, &name).await?;
            match current {
                Some(c) if annotation(&c, WRITER) == Some(&self.me) => {
                    let closed = annotation(&c, CLOSED).is_some();
                    self.adopt(c);
                    if closed {
                        self.head_closed = true;
                        return Ok(());
                    }
                }
                Some(c) => return Err(lost(&self.run, annotation(&c, WRITER).unwrap_or(""))),
                None => return Err(lost(&self.run, "")),
            }
        }
        Err(WriteError::Api(format!(
            "closing {name}: no answer after {ATTEMPTS} tries"
        )))
    }

    /// Creates chunk `index` holding `items` (as write `next_seq` when `numbered`; a fence's
    /// empty chunk is no write): it must not exist yet.
    async fn start_chunk(
        &mut self,
        api: &Api<Secret>,
        index: u32,
        items: &[Item],
        numbered: bool,
    ) -> Result<(), WriteError> {
        let name = names::chunk(&self.run, index);
        let mut chunk_labels = labels(&self.run, "journal");
        chunk_labels.insert(CHUNK.to_string(), index.to_string());
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(chunk_labels),
                annotations: Some(
                    [(WRITER.to_string(), self.me.clone())]
                        .into_iter()
                        .chain(numbered.then(|| (SEQ.to_string(), self.next_seq.to_string())))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            type_: Some(names::SECRET_TYPE.to_string()),
            data: Some(
                items
                    .iter()
                    .map(|i| (i.key(self.next_seq), ByteString(i.bytes().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        };
        for attempt in 0..ATTEMPTS {
            match api.create(&PostParams::default(), &secret).await {
                Ok(written) => {
                    self.head = index;
                    self.adopt(written);
                    return Ok(());
                }
                Err(kube::Error::Api(s)) if s.is_already_exists() => {}
                Err(e) if !super::transient(&e) => {
                    return Err(WriteError::Api(api_error(&format!("creating {name}"), &e)));
                }
                Err(e) => {
                    tracing::debug!("creating {name}: {e}");
                    backoff(attempt).await;
                }
            }
            match self.get(api, &name).await? {
                Some(c) if annotation(&c, WRITER) == Some(&self.me) => {
                    self.head = index;
                    self.adopt(c);
                    return Ok(());
                }
                Some(c) => return Err(lost(&self.run, annotation(&c, WRITER).unwrap_or(""))),
                None => {}
            }
        }
        Err(WriteError::Api(format!(
            "creating {name}: no answer after {ATTEMPTS} tries"
        )))
    }

    fn adopt(&mut self, written: Secret) -> Secret {
        self.head_rv = rv(&written);
        self.head_bytes = data_bytes(&written);
        self.head_closed = annotation(&written, CLOSED).is_some();
        written
    }

    async fn read_back(
        &self,
        api: &Api<Secret>,
        name: &str,
        seq: Option<u64>,
    ) -> Result<Landed, WriteError> {
        let Some(current) = self.get(api, name).await? else {
            return Ok(Landed::TakenOver(String::new()));
        };
        let writer = annotation(&current, WRITER).unwrap_or("").to_string();
        if writer != self.me {
            return Ok(Landed::TakenOver(writer));
        }
        let written_seq = annotation(&current, SEQ).and_then(|s| s.parse::<u64>().ok());
        let landed = match seq {
            Some(seq) => written_seq.is_some_and(|w| w >= seq),
            // A fence carries no sequence number: being the writer is what it is for.
            None => true,
        };
        Ok(if landed {
            Landed::Yes(current)
        } else {
            Landed::NotYet(current)
        })
    }

    async fn get(&self, api: &Api<Secret>, name: &str) -> Result<Option<Secret>, WriteError> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            match api.get_opt(name).await {
                Ok(found) => return Ok(found),
                Err(e) => {
                    last = api_error(&format!("reading {name}"), &e);
                    backoff(attempt).await;
                }
            }
        }
        Err(WriteError::Api(last))
    }
}

enum Landed {
    Yes(Secret),
    NotYet(Secret),
    TakenOver(String),
}

fn lost(run: &str, by: &str) -> WriteError {
    let by = match by.split('/').collect::<Vec<_>>()[..] {
        [host, pid, _] => format!("pid {pid} on {host}"),
        _ if by.is_empty() => "another process (its journal was removed)".to_string(),
        _ => by.to_string(),
    };
    WriteError::Lost(format!(
        "run {run}'s journal is written by {by} now: it took the run over"
    ))
}

async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(100 << attempt.min(3))).await;
}

/// Groups items into writes of at most [`CHUNK_BYTES`] (an item larger than that alone), with
/// the journal's lines last, split at line ends when they would not fit one write.
fn pack(items: Vec<Item>) -> Result<Vec<Vec<Item>>, WriteError> {
    let (mut journal, others): (Vec<Item>, Vec<Item>) = items
        .into_iter()
        .partition(|i| matches!(i, Item::Journal(_)));
    let mut ordered = others;
    for item in journal.drain(..) {
        if let Item::Journal(bytes) = item {
            ordered.extend(split_lines(bytes).into_iter().map(Item::Journal));
        }
    }
    let mut groups: Vec<Vec<Item>> = Vec::new();
    let mut size = 0;
    for item in ordered {
        let len = item.bytes().len();
        if len > WRITE_BYTES {
            return Err(WriteError::Api(format!(
                "a record of {len} bytes is more than a Secret holds ({WRITE_BYTES} at most)"
            )));
        }
        match groups.last_mut() {
            Some(group) if size + len <= CHUNK_BYTES => group.push(item),
            _ => {
                groups.push(vec![item]);
                size = 0;
            }
        }
        size += len;
    }
    Ok(groups)
}

/// Journal bytes cut at line ends into pieces of at most [`CHUNK_BYTES`] (a longer line alone).
fn split_lines(bytes: Vec<u8>) -> Vec<Vec<u8>> {
    if bytes.len() <= CHUNK_BYTES {
        return vec![bytes];
    }
    let mut pieces = Vec::new();
    let mut piece: Vec<u8> = Vec::new();
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        if !piece.is_empty() && piece.len() + line.len() > CHUNK_BYTES {
            pieces.push(std::mem::take(&mut piece));
        }
        piece.extend_from_slice(line);
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    pieces
}

/// The chunks of run `run`, in order.
pub(crate) async fn list_chunks(api: &Api<Secret>, run: &str) -> Result<Vec<Secret>, WriteError> {
    let selector = format!("{}={run},{}=journal", names::RUN_LABEL, names::PART_LABEL);
    let mut chunks = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| WriteError::Api(api_error("listing the run's journal", &e)))?
        .items;
    chunks.sort_by_key(|c| chunk_index(c).unwrap_or(u32::MAX));
    Ok(chunks)
}

/// What a run's chunks say, put together: the journal's bytes in order, the last kept tail of
/// each step's log, and the last clusters' identities.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Assembled {
    pub(crate) journal: Vec<u8>,
    pub(crate) logs: BTreeMap<String, Vec<u8>>,
    pub(crate) clusters: Option<Vec<u8>>,
}

/// Puts a run's chunks together (in any order; a missing chunk shows as a broken journal).
pub(crate) fn assemble(chunks: &[Secret]) -> Assembled {
    let mut keyed: BTreeMap<(u64, u8, String), &[u8]> = BTreeMap::new();
    for chunk in chunks {
        for (key, value) in chunk.data.iter().flatten() {
            let mut parts = key.splitn(3, '.');
            let (Some(kind), Some(seq)) = (parts.next(), parts.next()) else {
                continue;
            };
            let Ok(seq) = seq.parse::<u64>() else {
                continue;
            };
            let rest = parts.next().unwrap_or("").to_string();
            // Logs and identities of a write come before its journal lines.
            let order = match kind {
                "log" => 0,
                "clusters" => 1,
                "journal" => 2,
                _ => continue,
            };
            keyed.insert((seq, order, rest), &value.0);
        }
    }
    let mut out = Assembled::default();
    for ((_, order, rest), bytes) in keyed {
        match order {
            0 => {
                out.logs.insert(rest, bytes.to_vec());
            }
            1 => out.clusters = Some(bytes.to_vec()),
            _ => out.journal.extend_from_slice(bytes),
        }
    }
    out
}

fn chunk_index(s: &Secret) -> Option<u32> {
    s.metadata.labels.as_ref()?.get(CHUNK)?.parse().ok()
}

fn last_seq(s: &Secret) -> u64 {
    s.data
        .iter()
        .flatten()
        .filter_map(|(k, _)| k.split('.').nth(1)?.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
        .max(annotation(s, SEQ).and_then(|v| v.parse().ok()).unwrap_or(0))
}

fn data_bytes(s: &Secret) -> usize {
    s.data.iter().flatten().map(|(_, v)| v.0.len()).sum()
}

fn annotation<'a>(s: &'a Secret, key: &str) -> Option<&'a str> {
    s.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

fn rv(s: &Secret) -> String {
    s.metadata.resource_version.clone().unwrap_or_default()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshbook_sandbox::{Faults, Sandbox, SandboxConfig};

    async fn sandbox(faults: Faults) -> (Sandbox, kube::Client) {
        let sandbox = Sandbox::start(SandboxConfig {
            clusters: vec!["c1".into()],
            faults,
            ..SandboxConfig::default()
        })
        .await
        .expect("sandbox starts");
        let kubeconfig: kube::config::Kubeconfig =
            serde_yaml::from_str(&sandbox.kubeconfig_yaml()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .unwrap();
        (sandbox, kube::Client::try_from(config).unwrap())
    }

    fn journal(text: &str) -> Vec<Item> {
        vec![Item::Journal(text.as_bytes().to_vec())]
    }

    async fn stored(client: &kube::Client, run: &str) -> Vec<u8> {
        let api: Api<Secret> = Api::namespaced(client.clone(), "default");
        let chunks = list_chunks(&api, run).await.map_err(|_| "list").unwrap();
        assemble(&chunks).journal
    }

    #[tokio::test]
    async fn a_holder_fenced_off_by_a_taker_cannot_write() {
        let (_sandbox, client) = sandbox(Faults::default()).await;
        let mut old = Writer::create(client.clone(), "default", "r1", "a/1/x", journal("h\n"))
            .await
            .unwrap();
        old.append(client.clone(), journal("a1\n")).await.unwrap();
        let (mut new, chunks) = Writer::fence(client.clone(), "default", "r1", "b/2/y")
            .await
            .unwrap();
        assert_eq!(assemble(&chunks).journal, b"h\na1\n", "what the fence saw");
        new.append(client.clone(), journal("b1\n")).await.unwrap();
        let refused = old.append(client.clone(), journal("a2\n")).await;
        match refused {
            Err(WriteError::Lost(why)) => assert!(why.contains("pid 2 on b"), "{why}"),
            other => panic!("the old holder wrote: {other:?}"),
        }
        // A fence that lands between the old holder's reads and writes wins the same way,
        // including the write that would open a new chunk.
        let big = "x".repeat(CHUNK_BYTES) + "\n";
        new.append(client.clone(), journal(&big)).await.unwrap();
        assert!(old.append(client.clone(), journal(&big)).await.is_err());
        let mut expected = b"h\na1\nb1\n".to_vec();
        expected.extend_from_slice(big.as_bytes());
        assert_eq!(stored(&client, "r1").await, expected);
    }

    #[tokio::test]
    async fn a_first_write_larger_than_a_chunk_is_spread_over_several() {
        let (_sandbox, client) = sandbox(Faults::default()).await;
        let line = format!("{}\n", "j".repeat(1000));
        let lines = line.repeat(700);
        let mut items: Vec<Item> = (0..5)
            .map(|i| Item::Log(format!("s{i}.log"), vec![b'l'; 60 * 1024]))
            .collect();
        items.push(Item::Journal(lines.clone().into_bytes()));
        let mut writer = Writer::create(client.clone(), "default", "r3", "a/1/x", items)
            .await
            .unwrap();
        writer
            .append(client.clone(), journal("more\n"))
            .await
            .unwrap();
        let api: Api<Secret> = Api::namespaced(client.clone(), "default");
        let chunks = list_chunks(&api, "r3").await.map_err(|_| "list").unwrap();
        assert!(chunks.len() >= 4, "{} chunks", chunks.len());
        for chunk in &chunks {
            assert!(data_bytes(chunk) <= CHUNK_BYTES, "{}", data_bytes(chunk));
        }
        let together = assemble(&chunks);
        assert_eq!(together.journal, format!("{lines}more\n").into_bytes());
        assert_eq!(together.logs.len(), 5);
    }

    #[tokio::test]
    async fn every_write_lands_once_through_errors_and_dropped_answers() {
        let faults = Faults {
            error_rate: [("patch".to_string(), 0.15), ("get".to_string(), 0.1)].into(),
            lost_answer_rate: [("patch".to_string(), 0.2), ("create".to_string(), 0.3)].into(),
            ..Faults::default()
        };
        let (sandbox, client) = sandbox(faults).await;
        let mut writer = Writer::create(client.clone(), "default", "r2", "a/1/x", journal("h\n"))
            .await
            .unwrap();
        let mut expected = b"h\n".to_vec();
        let mut refused = 0;
        for i in 0..60 {
            // Lines of ~20 KiB, so the journal spans several chunks.
            let line = format!("{i:03}{}\n", "y".repeat(20 * 1024));
            match writer.append(client.clone(), journal(&line)).await {
                Ok(()) => expected.extend_from_slice(line.as_bytes()),
                // Every try failed: the caller stops the run; nothing of it may be stored.
                Err(WriteError::Api(_)) => refused += 1,
                Err(WriteError::Lost(why)) => panic!("no one else writes: {why}"),
            }
        }
        assert!(refused < 5, "{refused} writes never got through");
        let faults = sandbox.faults_injected("c1").unwrap();
        assert!(faults.lost_answers > 0 && faults.errors > 0, "{faults:?}");
        let got = stored(&client, "r2").await;
        assert_eq!(
            String::from_utf8_lossy(&got)
                .lines()
                .map(|l| l.get(..3).unwrap_or(l))
                .collect::<Vec<_>>(),
            String::from_utf8_lossy(&expected)
                .lines()
                .map(|l| l.get(..3).unwrap_or(l))
                .collect::<Vec<_>>(),
            "each record once, in order"
        );
        assert_eq!(got, expected);
    }

    fn chunk(index: u32, data: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                labels: Some([(CHUNK.to_string(), index.to_string())].into()),
                ..ObjectMeta::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    #[test]
    fn chunks_assemble_in_sequence_whatever_their_order() {
        let a = chunk(
            0,
            &[
                ("journal.0000000000", "h\n"),
                ("log.0000000001.a.log", "old"),
                ("journal.0000000001", "1\n"),
            ],
        );
        let b = chunk(
            1,
            &[
                ("journal.0000000002", "2\n3\n"),
                ("log.0000000002.a.log", "new"),
                ("clusters.0000000002", "{}"),
                ("unrelated", "x"),
            ],
        );
        let together = assemble(&[b.clone(), a.clone()]);
        assert_eq!(together, assemble(&[a, b]));
        assert_eq!(together.journal, b"h\n1\n2\n3\n");
        assert_eq!(together.logs["a.log"], b"new");
        assert_eq!(together.clusters.as_deref(), Some(&b"{}"[..]));
    }

    #[test]
    fn writes_are_packed_under_the_chunk_size_journal_last() {
        let line = |n: usize| {
            let mut l = vec![b'x'; n];
            l.push(b'\n');
            l
        };
        let mut journal = Vec::new();
        for _ in 0..5 {
            journal.extend(line(100 * 1024));
        }
        let groups = pack(vec![
            Item::Journal(journal.clone()),
            Item::Log("a.log".into(), vec![b'l'; 64 * 1024]),
        ])
        .unwrap();
        assert!(matches!(groups[0][0], Item::Log(..)), "logs first");
        let rejoined: Vec<u8> = groups
            .iter()
            .flatten()
            .filter_map(|i| match i {
                Item::Journal(b) => Some(b.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(rejoined, journal, "whole lines, in order");
        for group in &groups {
            let size: usize = group.iter().map(|i| i.bytes().len()).sum();
            assert!(size <= CHUNK_BYTES, "{size}");
            for item in group {
                if let Item::Journal(b) = item {
                    assert_eq!(b.last(), Some(&b'\n'));
                }
            }
        }
        assert!(matches!(
            pack(vec![Item::Journal(line(WRITE_BYTES + 1))]),
            Err(WriteError::Api(_))
        ));
    }
}

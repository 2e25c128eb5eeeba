//! The server side of SPDY/3.1 as kubectl and client-go speak it (moby/spdystream): control
//! frames (SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, HEADERS)
//! and data frames, with header blocks compressed by one zlib stream per direction primed with
//! the SPDY/3 dictionary. Streams are opened by the client; the server answers each with a
//! SYN_REPLY and then reads and writes its data.
//!
//! The transport is a byte stream: an upgraded HTTP connection (`Upgrade: SPDY/3.1`) or the
//! binary messages of a WebSocket (kubectl 1.31+ tunnels port-forward that way).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tokio::sync::mpsc;

const VERSION: u16 = 3;
const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;
const FLAG_FIN: u8 = 1;
/// RST_STREAM status CANCEL.
pub const CANCEL: u32 = 5;
/// The largest frame accepted (client-go never sends more than 32 KiB of data at once).
const MAX_FRAME: usize = 1 << 20;

/// The SPDY/3 header-compression dictionary (draft-mbelshe-httpbis-spdy-00 §2.6.10.1):
/// length-prefixed header names and values, then common text.
fn dictionary() -> &'static [u8] {
    static DICT: OnceLock<Vec<u8>> = OnceLock::new();
    DICT.get_or_init(|| {
        const WORDS: &[&str] = &[
            "options",
            "head",
            "post",
            "put",
            "delete",
            "trace",
            "accept",
            "accept-charset",
            "accept-encoding",
            "accept-language",
            "accept-ranges",
            "age",
            "allow",
            "authorization",
            "cache-control",
            "connection",
            "content-base",
            "content-encoding",
            "content-language",
            "content-length",
            "content-location",
            "content-md5",
            "content-range",
            "content-type",
            "date",
            "etag",
            "expect",
            "expires",
            "from",
            "host",
            "if-match",
            "if-modified-since",
            "if-none-match",
            "if-range",
            "if-unmodified-since",
            "last-modified",
            "location",
            "max-forwards",
            "pragma",
            "proxy-authenticate",
            "proxy-authorization",
            "range",
            "referer",
            "retry-after",
            "server",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "user-agent",
            "vary",
            "via",
            "warning",
            "www-authenticate",
            "method",
            "get",
            "status",
            "200 OK",
            "version",
            "HTTP/1.1",
            "url",
            "public",
            "set-cookie",
            "keep-alive",
            "origin",
        ];
        const TAIL: &str = concat!(
            "100101201202205206300302303304305306307402405406407408409410411412413414415416417",
            "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently",
            "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error",
            "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct ",
            "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,",
            "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,",
            "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=",
            "iso-8859-1,utf-,*,enq=0.",
        );
        let mut d = Vec::new();
        for w in WORDS {
            d.extend((w.len() as u32).to_be_bytes());
            d.extend(w.as_bytes());
        }
        d.extend(TAIL.as_bytes());
        d
    })
}

/// Header names (lower case) and their values.
pub type Headers = BTreeMap<String, Vec<String>>;

/// What the client did on the connection.
#[derive(Debug)]
pub enum Event {
    /// A new stream (SYN_STREAM); the connection already answered it with a SYN_REPLY.
    Stream {
        /// Stream id.
        id: u32,
        /// Its headers.
        headers: Headers,
    },
    /// Data on a stream; `fin` when the client's half is closed.
    Data {
        /// Stream id.
        id: u32,
        /// The bytes.
        data: Vec<u8>,
        /// End of the client's half.
        fin: bool,
    },
    /// The client reset a stream.
    Reset(u32),
}

/// Sends frames on the connection; cloned by every task that writes.
#[derive(Clone)]
pub struct Sender(mpsc::Sender<Out>);

enum Out {
    Data(u32, Vec<u8>, bool),
    Reset(u32, u32),
    Raw(Vec<u8>),
    GoAway,
}

impl Sender {
    /// Writes data on a stream (split into frames); `fin` closes the server's half.
    pub async fn data(&self, id: u32, data: &[u8], fin: bool) -> bool {
        let mut chunks = data.chunks(32 * 1024).peekable();
        if chunks.peek().is_none() {
            return self.0.send(Out::Data(id, Vec::new(), fin)).await.is_ok();
        }
        while let Some(c) = chunks.next() {
            let last = chunks.peek().is_none();
            if self
                .0
                .send(Out::Data(id, c.to_vec(), fin && last))
                .await
                .is_err()
            {
                return false;
            }
        }
        true
    }

    /// Resets a stream.
    pub async fn reset(&self, id: u32) {
        let _ = self.0.send(Out::Reset(id, CANCEL)).await;
    }

    /// Says goodbye (GOAWAY); the connection closes once what was queued is written.
    pub async fn go_away(&self) {
        let _ = self.0.send(Out::GoAway).await;
    }
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.extend((0x8000 | VERSION).to_be_bytes());
    f.extend(kind.to_be_bytes());
    f.push(flags);
    f.extend(&(payload.len() as u32).to_be_bytes()[1..]);
    f.extend(payload);
    f
}

fn data_frame(id: u32, fin: bool, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + data.len());
    f.extend((id & 0x7fff_ffff).to_be_bytes());
    f.push(if fin { FLAG_FIN } else { 0 });
    f.extend(&(data.len() as u32).to_be_bytes()[1..]);
    f.extend(data);
    f
}

/// A client's end of a connection, for the tests of what runs over one.
#[cfg(test)]
pub(crate) struct TestClient(HeaderCodec);

#[cfg(test)]
impl TestClient {
    pub(crate) fn new() -> Self {
        TestClient(HeaderCodec::new())
    }

    /// A SYN_STREAM opening stream `id` with `headers`.
    pub(crate) fn open(&mut self, id: u32, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut p = id.to_be_bytes().to_vec();
        p.extend(0u32.to_be_bytes()); // associated stream
        p.extend([0, 0]); // priority, slot
        p.extend(self.0.compress(&encode_headers(headers)));
        control(SYN_STREAM, 0, &p)
    }

    /// A data frame.
    pub(crate) fn data(id: u32, fin: bool, data: &[u8]) -> Vec<u8> {
        data_frame(id, fin, data)
    }

    /// The type of a control frame, `None` for a data frame.
    pub(crate) fn control_kind(frame: &[u8]) -> Option<u16> {
        (frame[0] & 0x80 != 0).then(|| u16::from_be_bytes([frame[2], frame[3]]))
    }

    /// A data frame's stream and payload.
    pub(crate) fn data_of(frame: &[u8]) -> Option<(u32, &[u8])> {
        (frame[0] & 0x80 == 0).then(|| (be32(&frame[..4]) & 0x7fff_ffff, &frame[8..]))
    }
}

/// The zlib streams of one connection's header blocks.
struct HeaderCodec {
    inflate: Decompress,
    deflate: Compress,
}

impl HeaderCodec {
    fn new() -> Self {
        let mut deflate = Compress::new(Compression::default(), true);
        // A fresh stream always accepts its dictionary.
        let _ = deflate.set_dictionary(dictionary());
        HeaderCodec {
            inflate: Decompress::new(true),
            deflate,
        }
    }

    fn decompress(&mut self, block: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(block.len() * 4 + 256);
        let mut input = block;
        for _ in 0..64 {
            if out.capacity() - out.len() < 1024 {
                out.reserve(out.capacity());
            }
            let before = self.inflate.total_in();
            match self
                .inflate
                .decompress_vec(input, &mut out, FlushDecompress::Sync)
            {
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate.set_dictionary(dictionary()).ok()?;
                }
                Err(_) => return None,
            }
            let used = (self.inflate.total_in() - before) as usize;
            input = &input[used..];
            if input.is_empty() && out.capacity() > out.len() {
                return Some(out);
            }
        }
        None
    }

    fn compress(&mut self, block: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(block.len() + 128);
        let mut input = block;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity() + 64);
            }
            let before = self.deflate.total_in();
            if self
                .deflate
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .is_err()
            {
                return out;
            }
            input = &input[(self.deflate.total_in() - before) as usize..];
            if input.is_empty() && out.capacity() > out.len() {
                return out;
            }
        }
    }
}

fn decode_headers(block: &[u8]) -> Option<Headers> {
    let mut h = Headers::new();
    let mut i = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = block.get(i..i.checked_add(n)?)?;
        i += n;
        Some(s)
    };
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let count = be32(take(4)?);
    for _ in 0..count.min(1024) {
        let n = be32(take(4)?);
        let name = String::from_utf8_lossy(take(n)?).to_lowercase();
        let n = be32(take(4)?);
        let value = take(n)?;
        h.entry(name).or_default().extend(
            value
                .split(|b| *b == 0)
                .map(|v| String::from_utf8_lossy(v).into_owned()),
        );
    }
    Some(h)
}

fn encode_headers(h: &[(&str, &str)]) -> Vec<u8> {
    let mut b = (h.len() as u32).to_be_bytes().to_vec();
    for (k, v) in h {
        b.extend((k.len() as u32).to_be_bytes());
        b.extend(k.as_bytes());
        b.extend((v.len() as u32).to_be_bytes());
        b.extend(v.as_bytes());
    }
    b
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Runs a SPDY connection over a byte stream: `input` brings what the client sent, `output`
/// takes what to send. Returns the client's events and a [`Sender`]; the events end when the
/// client goes away or after a GOAWAY is sent.
pub fn serve(
    mut input: mpsc::Receiver<Vec<u8>>,
    output: mpsc::Sender<Vec<u8>>,
) -> (mpsc::Receiver<Event>, Sender) {
    let (events, events_rx) = mpsc::channel::<Event>(64);
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(64);
    let sender = Sender(out_tx.clone());
    tokio::spawn(async move {
        let mut codec = HeaderCodec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut window_debt: BTreeMap<u32, u32> = BTreeMap::new();
        loop {
            // Whole frames in the buffer first.
            while buf.len() >= 8 {
                let len = (be32(&buf[4..8]) & 0x00ff_ffff) as usize;
                if len > MAX_FRAME {
                    return;
                }
                if buf.len() < 8 + len {
                    break;
                }
                let frame: Vec<u8> = buf.drain(..8 + len).collect();
                let flags = frame[4];
                let payload = &frame[8..];
                if frame[0] & 0x80 == 0 {
                    let id = be32(&frame[..4]) & 0x7fff_ffff;
                    // Give the client its window back as the data is taken.
                    for key in [0, id] {
                        *window_debt.entry(key).or_default() += payload.len() as u32;
                    }
                    let ev = Event::Data {
                        id,
                        data: payload.to_vec(),
                        fin: flags & FLAG_FIN != 0,
                    };
                    if events.send(ev).await.is_err() {
                        return;
                    }
                    for (key, debt) in std::mem::take(&mut window_debt) {
                        if debt > 0 {
                            let mut p = key.to_be_bytes().to_vec();
                            p.extend(debt.to_be_bytes());
                            let _ = out_tx.send(Out::Raw(control(WINDOW_UPDATE, 0, &p))).await;
                        }
                    }
                    continue;
                }
                let kind = u16::from_be_bytes([frame[2], frame[3]]);
                match kind {
                    SYN_STREAM if payload.len() >= 10 => {
                        let id = be32(payload) & 0x7fff_ffff;
                        let Some(headers) = codec
                            .decompress(&payload[10..])
                            .and_then(|b| decode_headers(&b))
                        else {
                            return;
                        };
                        let block = codec.compress(&encode_headers(&[]));
                        let mut reply = id.to_be_bytes().to_vec();
                        reply.extend(block);
                        let _ = out_tx.send(Out::Raw(control(SYN_REPLY, 0, &reply))).await;
                        let ev = Event::Stream { id, headers };
                        if events.send(ev).await.is_err() {
                            return;
                        }
                    }
                    // Keep the shared zlib stream in step; the headers are not used.
                    HEADERS if payload.len() >= 4 && codec.decompress(&payload[4..]).is_none() => {
                        return;
                    }
                    RST_STREAM if payload.len() >= 8 => {
                        let id = be32(payload) & 0x7fff_ffff;
                        if events.send(Event::Reset(id)).await.is_err() {
                            return;
                        }
                    }
                    PING => {
                        let _ = out_tx.send(Out::Raw(control(PING, 0, payload))).await;
                    }
                    GOAWAY => return,
                    // SETTINGS, WINDOW_UPDATE: the sandbox sends little and never waits.
                    SETTINGS | WINDOW_UPDATE | SYN_REPLY => {}
                    _ => {}
                }
            }
            match input.recv().await {
                Some(chunk) => buf.extend(chunk),
                None => return,
            }
        }
    });
    // The writer: frames in order; closing the output ends the connection.
    tokio::spawn(async move {
        while let Some(o) = out_rx.recv().await {
            let (bytes, last) = match o {
                Out::Data(id, d, fin) => (data_frame(id, fin, &d), false),
                Out::Reset(id, status) => {
                    let mut p = id.to_be_bytes().to_vec();
                    p.extend(status.to_be_bytes());
                    (control(RST_STREAM, 0, &p), false)
                }
                Out::Raw(b) => (b, false),
                Out::GoAway => (control(GOAWAY, 0, &[0, 0, 0, 0, 0, 0, 0, 0]), true),
            };
            if output.send(bytes).await.is_err() || last {
                break;
            }
        }
    });
    (events_rx, sender)
}

/// The value of one header, if present.
pub fn header<'a>(h: &'a Headers, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.first()).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_is_the_spdy3_one() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(&d[..11], b"\0\0\0\x07options");
        assert!(d.ends_with(b"enq=0."));
    }

    #[tokio::test]
    async fn streams_data_ping_and_replies() {
        let (in_tx, in_rx) = mpsc::channel(16);
        let (out_tx, mut out_rx) = mpsc::channel(16);
        let (mut events, sender) = serve(in_rx, out_tx);
        // A client's SYN_STREAM, compressed with its own zlib stream and the dictionary.
        let mut client = TestClient::new();
        let mut bytes = client.open(1, &[("streamtype", "error"), ("port", "80")]);
        bytes.extend(control(PING, 0, &7u32.to_be_bytes()));
        bytes.extend(data_frame(1, true, b"hello"));
        // Split mid-frame, as a socket may.
        let (a, b) = bytes.split_at(5);
        in_tx.send(a.to_vec()).await.unwrap();
        in_tx.send(b.to_vec()).await.unwrap();
        match events.recv().await.unwrap() {
            Event::Stream { id, headers } => {
                assert_eq!(id, 1);
                assert_eq!(header(&headers, "streamtype"), Some("error"));
                assert_eq!(header(&headers, "port"), Some("80"));
            }
            other => panic!("{other:?}"),
        }
        match events.recv().await.unwrap() {
            Event::Data { id, data, fin } => {
                assert_eq!((id, data.as_slice(), fin), (1, &b"hello"[..], true))
            }
            other => panic!("{other:?}"),
        }
        let reply = out_rx.recv().await.unwrap();
        assert_eq!(u16::from_be_bytes([reply[2], reply[3]]), SYN_REPLY);
        let mut reply_headers = client_inflate(&reply[12..]);
        assert_eq!(reply_headers.len(), 4);
        reply_headers.clear();
        let ping = out_rx.recv().await.unwrap();
        assert_eq!(u16::from_be_bytes([ping[2], ping[3]]), PING);
        assert_eq!(&ping[8..], &7u32.to_be_bytes());
        sender.data(1, b"bye", true).await;
        let mut next = out_rx.recv().await.unwrap();
        while next[0] & 0x80 != 0 {
            next = out_rx.recv().await.unwrap(); // window updates
        }
        assert_eq!(next, data_frame(1, true, b"bye"));
    }

    fn client_inflate(block: &[u8]) -> Vec<u8> {
        let mut c = HeaderCodec::new();
        c.decompress(block).unwrap()
    }
}

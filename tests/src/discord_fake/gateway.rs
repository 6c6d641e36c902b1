//! The gateway websocket: Hello, Identify → READY, heartbeats, Resume → RESUMED, and
//! dispatches with increasing sequence numbers.
//!
//! Every connection runs one task that owns its socket and drains an outbox channel, so
//! frames go out in exactly the order they were queued under the [`Gateway`] lock, which is
//! also where sequence numbers are assigned.
//!
//! Each Identify starts a session of its own (one per shard, as on Discord), with its own
//! sequence numbers; a connection that resumes takes its session (and shard) over.

use super::payloads::{self, ReadyInfo};
use super::{FakeDiscord, Shared};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Dispatches kept for replay on resume; a test never gets near this many.
const HISTORY: usize = 1000;

pub(crate) enum Out {
    Text(String),
    /// Drop the socket without a close frame, as a network failure would.
    Abort,
    /// Send a close frame with this code, then drop the socket.
    Close(u16, String),
}

struct Session {
    seq: u64,
    /// (seq, frame) of recent dispatches, replayed to a resuming bot that missed them.
    sent: Vec<(u64, String)>,
    /// The shard id the session identified as, if it named one.
    shard: Option<u64>,
}

#[derive(Default)]
pub(crate) struct Gateway {
    /// Every session started, by id.
    sessions: HashMap<String, Session>,
    /// The session each identified or resumed connection carries.
    conn_session: HashMap<u64, String>,
    /// Every open socket, by connection number.
    conns: HashMap<u64, mpsc::UnboundedSender<Out>>,
    next_conn: u64,
    /// The connection that identified or resumed last and has not been dropped: where
    /// dispatches go.
    live: Option<u64>,
    /// Dispatches made while no connection was live; sent after READY or RESUMED.
    pending: Vec<(String, Value)>,
    /// Answer the next Identify with a close frame of this code (e.g. 4004).
    close_on_identify: Option<u16>,
    sessions_started: u64,
    /// The connection that identified (or resumed) as each shard id (`d.shard[0]`), for
    /// [`Gateway::dispatch_to_shard`].
    shards: HashMap<u64, u64>,
    /// The shard count the bot identified with (`d.shard[1]`); 1 until it names one.
    total_shards: u64,
}

impl Gateway {
    /// Queues a dispatch on the live connection, or keeps it for later.
    pub(crate) fn dispatch(&mut self, event: &str, data: Value) {
        match self.live {
            Some(conn) if self.conns.contains_key(&conn) => {
                self.dispatch_on(conn, event, data);
            }
            _ => self.pending.push((event.to_string(), data)),
        }
    }

    /// Sends a dispatch on `conn`, numbered in its session; false if it carries none.
    fn dispatch_on(&mut self, conn: u64, event: &str, data: Value) -> bool {
        let Some(session) = self
            .conn_session
            .get(&conn)
            .and_then(|id| self.sessions.get_mut(id))
        else {
            return false;
        };
        session.seq += 1;
        let frame = json!({"op": 0, "t": event, "s": session.seq, "d": data}).to_string();
        session.sent.push((session.seq, frame.clone()));
        if session.sent.len() > HISTORY {
            session.sent.remove(0);
        }
        // A failed send means the socket just died; the frame stays in `sent` and is
        // replayed when the bot resumes.
        self.send(conn, Out::Text(frame));
        true
    }

    /// Sends a dispatch to the open connection that identified as `shard` (several
    /// processes each running some shards); false if none did.
    pub(crate) fn dispatch_to_shard(&mut self, shard: u64, event: &str, data: Value) -> bool {
        match self.shards.get(&shard).copied() {
            Some(conn) if self.conns.contains_key(&conn) => self.dispatch_on(conn, event, data),
            _ => false,
        }
    }

    /// How many shards the bot said it runs in all (1 if it named none).
    pub(crate) fn total_shards(&self) -> u64 {
        self.total_shards.max(1)
    }

    fn flush_pending(&mut self) {
        for (event, data) in std::mem::take(&mut self.pending) {
            self.dispatch(&event, data);
        }
    }

    fn send(&self, conn: u64, out: Out) {
        if let Some(tx) = self.conns.get(&conn) {
            let _ = tx.send(out);
        }
    }

    /// Abruptly closes the live connection (or, if none is live, every open one).
    pub(crate) fn drop_live(&mut self) {
        let targets: Vec<u64> = match self.live.take() {
            Some(c) => vec![c],
            None => self.conns.keys().copied().collect(),
        };
        for c in targets {
            self.send(c, Out::Abort);
        }
    }

    /// Sends op 7 on the live connection; dispatches wait until the bot resumes.
    pub(crate) fn request_reconnect(&mut self) {
        if let Some(c) = self.live.take() {
            self.send(c, Out::Text(json!({"op": 7, "d": null}).to_string()));
        }
    }

    /// Sends op 9 on the live connection; dispatches wait for the next READY or RESUMED.
    pub(crate) fn invalidate_live(&mut self, resumable: bool) {
        if let Some(c) = self.live.take() {
            self.send(c, Out::Text(json!({"op": 9, "d": resumable}).to_string()));
        }
    }

    /// Closes the live connection with a close frame of this code.
    pub(crate) fn close_live(&mut self, code: u16) {
        if let Some(c) = self.live.take() {
            self.send(
                c,
                Out::Close(code, format!("fake Discord closed with {code}")),
            );
        }
    }

    pub(crate) fn set_close_on_identify(&mut self, code: Option<u16>) {
        self.close_on_identify = code;
    }

    /// Ends every connection; used when the fake is dropped.
    pub(crate) fn shutdown(&mut self) {
        self.live = None;
        for tx in self.conns.values() {
            let _ = tx.send(Out::Abort);
        }
    }
}

pub(crate) async fn upgrade(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| serve(shared, socket))
}

async fn serve(shared: Arc<Shared>, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn = {
        let mut gw = shared.gateway();
        gw.next_conn += 1;
        let conn = gw.next_conn;
        gw.conns.insert(conn, tx.clone());
        conn
    };
    let hello = json!({"op": 10, "d": {"heartbeat_interval": shared.heartbeat_interval.as_millis() as u64}});
    let _ = tx.send(Out::Text(hello.to_string()));
    drop(tx);

    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Text(t)) => {
                    if socket.send(Message::Text(t.into())).await.is_err() {
                        break;
                    }
                }
                Some(Out::Close(code, reason)) => {
                    let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    break;
                }
                // Returning drops the socket: the TCP connection ends with no close frame.
                Some(Out::Abort) | None => break,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => on_frame(&shared, conn, t.as_str()),
                Some(Ok(Message::Binary(_))) => shared.violation(
                    "GATEWAY: the bot sent a binary frame; Discord expects JSON text frames".into(),
                ),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            },
        }
    }

    let mut gw = shared.gateway();
    gw.conns.remove(&conn);
    gw.conn_session.remove(&conn);
    if gw.live == Some(conn) {
        gw.live = None;
    }
}

fn on_frame(shared: &Shared, conn: u64, text: &str) {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        shared.violation(format!(
            "GATEWAY: the bot sent a frame that is not JSON: {text}"
        ));
        return;
    };
    shared
        .received
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(frame.clone());
    let d = &frame["d"];
    match frame["op"].as_u64() {
        Some(1) => {
            shared.heartbeat_count.fetch_add(1, Ordering::SeqCst);
            shared
                .gateway()
                .send(conn, Out::Text(json!({"op": 11}).to_string()));
        }
        Some(2) => identify(shared, conn, d),
        Some(6) => resume(shared, conn, d),
        // Presence updates, member chunk requests, voice state: accepted and ignored.
        Some(3 | 4 | 8 | 31) => {}
        other => shared.violation(format!(
            "GATEWAY: the bot sent unknown opcode {other:?}: {text}"
        )),
    }
}

fn identify(shared: &Shared, conn: u64, d: &Value) {
    if !d["token"].as_str().is_some_and(|t| t.starts_with("Bot ")) {
        shared.violation(format!("GATEWAY: Identify without a `Bot ` token: {d}"));
    }
    if d["intents"].as_u64().is_none() {
        shared.violation(format!("GATEWAY: Identify without numeric intents: {d}"));
    }
    let mut gw = shared.gateway();
    if let Some(code) = gw.close_on_identify.take() {
        gw.send(conn, Out::Close(code, "Authentication failed.".into()));
        return;
    }
    gw.sessions_started += 1;
    let session_id = format!("fake-session-{}", gw.sessions_started);
    let shard = d["shard"][0].as_u64();
    let total = d["shard"][1].as_u64().unwrap_or(1).max(1);
    // Each shard's READY lists the guilds that belong to it, as on Discord.
    let guilds = shared.guilds_of_shard(shard.unwrap_or(0), total);
    let ready = payloads::ready(ReadyInfo {
        session_id: &session_id,
        resume_url: &shared.ws_url,
        bot_id: FakeDiscord::BOT_USER_ID,
        app_id: FakeDiscord::APP_ID,
        guilds: &guilds,
        shard: d.get("shard").cloned().unwrap_or(json!([0, 1])),
    });
    gw.sessions.insert(
        session_id.clone(),
        Session {
            seq: 0,
            sent: Vec::new(),
            shard,
        },
    );
    gw.conn_session.insert(conn, session_id);
    if let Some(id) = shard {
        gw.shards.insert(id, conn);
        gw.total_shards = total;
    }
    gw.live = Some(conn);
    gw.dispatch_on(conn, "READY", ready);
    gw.flush_pending();
    // Counted after READY is queued, so a test that saw the count can rely on READY.
    shared.identify_count.fetch_add(1, Ordering::SeqCst);
}

fn resume(shared: &Shared, conn: u64, d: &Value) {
    let mut gw = shared.gateway();
    let id = d["session_id"].as_str().unwrap_or_default().to_string();
    let Some(session) = gw.sessions.get(&id) else {
        // Not resumable: the bot must identify afresh.
        gw.send(conn, Out::Text(json!({"op": 9, "d": false}).to_string()));
        return;
    };
    let bot_seq = d["seq"].as_u64().unwrap_or(0);
    let missed: Vec<String> = session
        .sent
        .iter()
        .filter(|(seq, _)| *seq > bot_seq)
        .map(|(_, f)| f.clone())
        .collect();
    let shard = session.shard;
    for frame in missed {
        gw.send(conn, Out::Text(frame));
    }
    gw.conn_session.insert(conn, id);
    if let Some(shard) = shard {
        gw.shards.insert(shard, conn);
    }
    gw.live = Some(conn);
    gw.dispatch_on(conn, "RESUMED", json!({"_trace": ["fake-discord"]}));
    gw.flush_pending();
    shared.resume_count.fetch_add(1, Ordering::SeqCst);
}

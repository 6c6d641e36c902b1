//! Serving one command or button press: run it on the dispatcher in the background and
//! drive its [`Live`] answer — deferral at the deadline, merged progress edits, the result.

use super::answer::{Live, Sink, Target, EDIT_EVERY};
use super::report;
use crate::bot::Bot;
use crate::dispatch::{Caller, Kind, Request, Response};
use serenity::all::{CreateInteractionResponse, CreateInteractionResponseMessage};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Run a request and show its life in Discord.
pub async fn serve(
    bot: Arc<Bot>,
    who: Caller,
    request: Request,
    target: Target,
    defer_after: Duration,
) {
    let what = match &request {
        Request::Text(t) => format!(
            "`{}{}`",
            bot.dispatcher.prefix(),
            t.split_whitespace().next().unwrap_or("")
        ),
        Request::Command { name, .. } => format!("`/{name}`"),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let dispatcher = bot.dispatcher.clone();
    let work =
        tokio::spawn(async move { dispatcher.dispatch(&who, request, Arc::new(Sink(tx))).await });
    drive(
        Live::new(target, what),
        work,
        rx,
        Instant::now() + defer_after,
    )
    .await;
}

/// A Confirm or Cancel press by the user who asked (the caller checked).
pub async fn serve_confirmation(
    bot: Arc<Bot>,
    who: Caller,
    token: String,
    accept: bool,
    target: Target,
) {
    let mut live = Live::new(target, "the confirmed command".into());
    if let Target::Interaction { http, interaction } = &live.target {
        let text = if accept {
            "⏳ Confirmed; running…"
        } else {
            "Cancelling…"
        };
        let r = interaction
            .respond(
                http,
                CreateInteractionResponse::UpdateMessage(
                    CreateInteractionResponseMessage::new()
                        .content(text)
                        .components(Vec::new()),
                ),
            )
            .await;
        live.answered = report("acknowledging a button press", r).is_some();
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let dispatcher = bot.dispatcher.clone();
    let work = tokio::spawn(async move {
        dispatcher
            .confirm(&who, &token, accept, Arc::new(Sink(tx)))
            .await
    });
    drive(live, work, rx, Instant::now()).await;
}

/// A press of a plugin's button or a choice in its menu: acknowledged at once (so the
/// message it is on stays as it is until the plugin edits it), then run like a command.
#[allow(clippy::too_many_arguments)]
pub async fn serve_press(
    bot: Arc<Bot>,
    who: Caller,
    custom_id: String,
    values: Vec<String>,
    message_id: String,
    message_text: String,
    target: Target,
) {
    let mut live = Live::new(target, "the button".into());
    live.press = true;
    if let Target::Interaction { http, interaction } = &live.target {
        let r = interaction
            .respond(http, CreateInteractionResponse::Acknowledge)
            .await;
        live.answered = report("acknowledging a button press", r).is_some();
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let dispatcher = bot.dispatcher.clone();
    let work = tokio::spawn(async move {
        dispatcher
            .press(
                &who,
                &custom_id,
                values,
                &message_id,
                &message_text,
                Arc::new(Sink(tx)),
            )
            .await
    });
    drive(live, work, rx, Instant::now()).await;
}

async fn drive(
    mut live: Live,
    mut work: tokio::task::JoinHandle<Response>,
    mut rx: mpsc::UnboundedReceiver<String>,
    defer_at: Instant,
) {
    let mut deferred = false;
    loop {
        let flush_at = live.last_edit + EDIT_EVERY;
        tokio::select! {
            done = &mut work => {
                let resp = done.unwrap_or_else(|e| Response {
                    kind: Kind::Failed,
                    text: format!("{} failed inside the host: {e}", live.what),
                    ephemeral: true,
                    notices: Vec::new(),
                    rich: Default::default(),
                    edit: false,
                });
                live.finish(resp).await;
                return;
            }
            Some(text) = rx.recv() => live.progress(text).await,
            _ = tokio::time::sleep_until(defer_at), if !deferred && !live.answered => {
                deferred = true;
                live.defer().await;
            }
            _ = tokio::time::sleep_until(flush_at), if live.queued.is_some() => live.flush().await,
        }
    }
}

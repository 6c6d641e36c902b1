//! Showing one command's life in Discord: an answer within the interaction deadline (or a
//! deferral), progress as edits of that message, errors only to the user who asked, long
//! output split or attached, and Confirm/Cancel buttons for dangerous commands.

use super::reply::{self, Shaped};
use super::report;
use super::rich::Parts;
use crate::capabilities::ProgressSink;
use crate::dispatch::{Kind, Response};
use serenity::all::{
    ButtonStyle, ChannelId, CommandInteraction, ComponentInteraction, CreateActionRow,
    CreateAttachment, CreateButton, CreateInteractionResponse, CreateInteractionResponseFollowup,
    CreateInteractionResponseMessage, CreateMessage, EditInteractionResponse, EditMessage, Http,
    Message, MessageId, UserId,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Progress edits closer together than this are merged, to stay inside rate limits.
pub(super) const EDIT_EVERY: Duration = Duration::from_millis(1000);

pub enum AnyInteraction {
    Command(CommandInteraction),
    Component(ComponentInteraction),
}

impl AnyInteraction {
    pub(super) async fn respond(
        &self,
        http: &Http,
        r: CreateInteractionResponse,
    ) -> serenity::Result<()> {
        match self {
            AnyInteraction::Command(c) => c.create_response(http, r).await,
            AnyInteraction::Component(c) => c.create_response(http, r).await,
        }
    }
    async fn edit(&self, http: &Http, e: EditInteractionResponse) -> serenity::Result<Message> {
        match self {
            AnyInteraction::Command(c) => c.edit_response(http, e).await,
            AnyInteraction::Component(c) => c.edit_response(http, e).await,
        }
    }
    async fn followup(
        &self,
        http: &Http,
        f: CreateInteractionResponseFollowup,
    ) -> serenity::Result<Message> {
        match self {
            AnyInteraction::Command(c) => c.create_followup(http, f).await,
            AnyInteraction::Component(c) => c.create_followup(http, f).await,
        }
    }
    fn channel_and_user(&self) -> (ChannelId, UserId) {
        match self {
            AnyInteraction::Command(c) => (c.channel_id, c.user.id),
            AnyInteraction::Component(c) => (c.channel_id, c.user.id),
        }
    }
}

/// Whether a call failed because the interaction is over: its token expired (Discord
/// allows edits and follow-ups for 15 minutes) or it was never acknowledged in time.
fn interaction_gone<T>(r: &serenity::Result<T>) -> bool {
    const UNKNOWN_WEBHOOK: isize = 10015;
    const UNKNOWN_INTERACTION: isize = 10062;
    const INVALID_WEBHOOK_TOKEN: isize = 50027;
    matches!(
        r,
        Err(serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(e)))
            if matches!(e.error.code, UNKNOWN_WEBHOOK | UNKNOWN_INTERACTION | INVALID_WEBHOOK_TOKEN)
    )
}

/// Where the answer goes.
pub enum Target {
    /// A slash command or a button press.
    Interaction {
        http: Arc<Http>,
        interaction: Box<AnyInteraction>,
    },
    /// A `!cmd` message: answered in its channel, as a reply to it.
    Channel {
        http: Arc<Http>,
        channel: ChannelId,
        reply_to: Option<MessageId>,
    },
}

pub(super) struct Sink(pub(super) mpsc::UnboundedSender<String>);
impl ProgressSink for Sink {
    fn progress(&self, text: &str) {
        let _ = self.0.send(text.to_string());
    }
}

fn buttons(token: &str) -> Vec<CreateActionRow> {
    vec![CreateActionRow::Buttons(vec![
        CreateButton::new(format!("chatops:confirm:{token}"))
            .label("Confirm")
            .style(ButtonStyle::Danger),
        CreateButton::new(format!("chatops:cancel:{token}"))
            .label("Cancel")
            .style(ButtonStyle::Secondary),
    ])]
}

pub(super) struct Live {
    pub(super) target: Target,
    /// Something is visible already (a progress message, a deferral, an updated prompt).
    pub(super) answered: bool,
    /// The channel message that progress edits (prefix commands).
    progress_msg: Option<MessageId>,
    pub(super) last_edit: Instant,
    pub(super) queued: Option<String>,
    pub(super) what: String,
    /// Set once the interaction is over and the answer moved to its channel: said first
    /// in every message there.
    expired_note: Option<String>,
    /// Answering a press of a plugin's button: the message it is on is the interaction's
    /// original, edited only by a `PressResult::Edit`; other answers are follow-ups.
    pub(super) press: bool,
}

impl Live {
    pub(super) fn new(target: Target, what: String) -> Self {
        Live {
            target,
            answered: false,
            progress_msg: None,
            last_edit: Instant::now() - EDIT_EVERY,
            queued: None,
            what,
            expired_note: None,
            press: false,
        }
    }

    /// The interaction is over (its token expired): answer in its channel from now on,
    /// saying so, as a `!cmd` would be answered.
    fn move_to_channel(&mut self) {
        let Target::Interaction { http, interaction } = &self.target else {
            return;
        };
        let (channel, user) = interaction.channel_and_user();
        tracing::warn!(
            "the interaction of {} is over (Discord allows 15 minutes to answer one); answering in channel {channel} instead",
            self.what
        );
        self.expired_note = Some(format!(
            "<@{user}> {} took longer than Discord keeps an interaction open, so its answer is here:",
            self.what
        ));
        self.target = Target::Channel {
            http: http.clone(),
            channel,
            reply_to: None,
        };
        self.answered = false;
        self.progress_msg = None;
    }

    fn with_note(&self, text: &str) -> String {
        match &self.expired_note {
            Some(note) => format!("{note}\n{text}"),
            None => text.to_string(),
        }
    }

    pub(super) async fn defer(&mut self) {
        match &self.target {
            Target::Interaction { http, interaction } => {
                let r = interaction
                    .respond(
                        http,
                        CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new()),
                    )
                    .await;
                if interaction_gone(&r) {
                    self.move_to_channel();
                    return;
                }
                report(&format!("deferring {}", self.what), r);
            }
            Target::Channel { http, channel, .. } => {
                report(
                    &format!("showing typing for {}", self.what),
                    channel.broadcast_typing(http).await,
                );
            }
        }
        self.answered = matches!(self.target, Target::Interaction { .. });
    }

    pub(super) async fn progress(&mut self, text: String) {
        if self.last_edit.elapsed() < EDIT_EVERY && (self.answered || self.progress_msg.is_some()) {
            self.queued = Some(text);
            return;
        }
        self.show_progress(text).await;
    }

    pub(super) async fn flush(&mut self) {
        if let Some(text) = self.queued.take() {
            self.show_progress(text).await;
        }
    }

    async fn show_progress(&mut self, text: String) {
        if self.press {
            // The original is the message the button is on: progress would overwrite it.
            return;
        }
        let content = self.with_note(&format!("⏳ {text}"));
        let content: String = content.chars().take(reply::LIMIT).collect();
        self.last_edit = Instant::now();
        let what = format!("showing progress of {}", self.what);
        match &self.target {
            Target::Interaction { http, interaction } => {
                if self.answered {
                    let r = interaction
                        .edit(http, EditInteractionResponse::new().content(content))
                        .await;
                    if interaction_gone(&r) {
                        self.move_to_channel();
                        return Box::pin(self.show_progress(text)).await;
                    }
                    report(&what, r);
                } else {
                    let r = interaction
                        .respond(
                            http,
                            CreateInteractionResponse::Message(
                                CreateInteractionResponseMessage::new().content(content),
                            ),
                        )
                        .await;
                    if interaction_gone(&r) {
                        self.move_to_channel();
                        return Box::pin(self.show_progress(text)).await;
                    }
                    self.answered = report(&what, r).is_some();
                }
            }
            Target::Channel {
                http,
                channel,
                reply_to,
            } => match self.progress_msg {
                Some(id) => {
                    report(
                        &what,
                        channel
                            .edit_message(http, id, EditMessage::new().content(content))
                            .await,
                    );
                }
                None => {
                    let mut m = CreateMessage::new().content(content);
                    if let Some(to) = reply_to {
                        m = m.reference_message((*channel, *to));
                    }
                    let m = channel.send_message(http, m).await;
                    self.progress_msg = report(&what, m).map(|m| m.id);
                }
            },
        }
    }

    pub(super) async fn finish(&mut self, resp: Response) {
        self.queued = None;
        for n in &resp.notices {
            tracing::warn!("{n}");
        }
        let mut parts = super::rich::parts(&resp.rich);
        match &resp.kind {
            Kind::Confirm { token } if self.press => {
                let confirm = Parts {
                    components: buttons(token),
                    ..Parts::default()
                };
                self.followup(&resp.text, confirm, false).await
            }
            Kind::Confirm { token } => {
                let confirm = Parts {
                    components: buttons(token),
                    ..Parts::default()
                };
                self.public(&resp.text, confirm).await
            }
            _ if resp.ephemeral && self.press => self.followup(&resp.text, parts, true).await,
            _ if resp.ephemeral => {
                // A private answer is text: its embeds and files are described in it.
                let text = crate::render::plain(&crate::model::Message {
                    text: resp.text.clone(),
                    embeds: resp.rich.embeds.clone(),
                    attachments: resp.rich.attachments.clone(),
                    components: vec![],
                });
                self.private(&text).await
            }
            _ if self.press && !resp.edit => self.followup(&resp.text, parts, false).await,
            _ => {
                if self.press && parts.components.is_empty() {
                    // An edit without components takes the pressed buttons away.
                    parts.components = Vec::new();
                }
                self.public(&resp.text, parts).await
            }
        }
    }

    /// A new message after a press (not an edit of the message the button is on).
    async fn followup(&mut self, text: &str, parts: Parts, ephemeral: bool) {
        let Target::Interaction { http, interaction } = &self.target else {
            return self.public(text, parts).await;
        };
        let what = format!("answering {}", self.what);
        let mut f = CreateInteractionResponseFollowup::new()
            .ephemeral(ephemeral)
            .embeds(parts.embeds)
            .components(parts.components)
            .add_files(parts.files);
        let content: String = text.chars().take(reply::LIMIT).collect();
        if !content.is_empty() {
            f = f.content(content);
        }
        report(&what, interaction.followup(http, f).await);
    }

    async fn public(&mut self, text: &str, parts: Parts) {
        let what = format!("answering {}", self.what);
        let components = parts.components.clone();
        let rich = !parts.embeds.is_empty() || !parts.files.is_empty();
        let (first, rest, file) = match reply::shape(&self.with_note(text)) {
            _ if rich && text.trim().is_empty() => (String::new(), Vec::new(), None),
            Shaped::Parts(mut parts) => {
                let first = parts.remove(0);
                (first, parts, None)
            }
            Shaped::File { summary, text } => (
                summary,
                Vec::new(),
                Some(CreateAttachment::bytes(text.into_bytes(), "reply.txt")),
            ),
        };
        let files: Vec<CreateAttachment> = file.into_iter().chain(parts.files.clone()).collect();
        let file = (!files.is_empty()).then_some(());
        let embeds = parts.embeds.clone();
        match &self.target {
            Target::Interaction { http, interaction } => {
                let r = if self.answered {
                    let mut e = EditInteractionResponse::new()
                        .content(first)
                        .embeds(embeds.clone())
                        .components(components.clone());
                    for f in files.clone() {
                        e = e.new_attachment(f);
                    }
                    interaction.edit(http, e).await.map(|_| ())
                } else {
                    let mut m = CreateInteractionResponseMessage::new()
                        .embeds(embeds.clone())
                        .components(components.clone())
                        .add_files(files.clone());
                    if !first.is_empty() {
                        m = m.content(first);
                    }
                    interaction
                        .respond(http, CreateInteractionResponse::Message(m))
                        .await
                };
                if interaction_gone(&r) {
                    self.move_to_channel();
                    return Box::pin(self.public(text, parts)).await;
                }
                self.answered |= report(&what, r).is_some();
                let mut rest = rest.into_iter();
                while let Some(part) = rest.next() {
                    let r = interaction
                        .followup(
                            http,
                            CreateInteractionResponseFollowup::new().content(part.clone()),
                        )
                        .await;
                    if interaction_gone(&r) {
                        // The first part was shown; the rest goes to the channel.
                        self.move_to_channel();
                        let left: Vec<String> = std::iter::once(part).chain(rest).collect();
                        return Box::pin(self.public(&left.concat(), Parts::default())).await;
                    }
                    report(&what, r);
                }
            }
            Target::Channel {
                http,
                channel,
                reply_to,
            } => {
                match (self.progress_msg, &file) {
                    (Some(id), None) => {
                        report(
                            &what,
                            channel
                                .edit_message(
                                    http,
                                    id,
                                    EditMessage::new()
                                        .content(first)
                                        .embeds(embeds)
                                        .components(components),
                                )
                                .await,
                        );
                    }
                    _ => {
                        let mut m = CreateMessage::new()
                            .embeds(embeds)
                            .components(components)
                            .add_files(files);
                        if !first.is_empty() {
                            m = m.content(first);
                        }
                        if let Some(to) = reply_to {
                            m = m.reference_message((*channel, *to));
                        }
                        report(&what, channel.send_message(http, m).await);
                    }
                }
                for part in rest {
                    report(
                        &what,
                        channel
                            .send_message(http, CreateMessage::new().content(part))
                            .await,
                    );
                }
            }
        }
    }

    /// Errors and refusals: only the user who asked sees them (in a channel, a reply).
    async fn private(&mut self, text: &str) {
        let Target::Interaction { http, interaction } = &self.target else {
            if self.expired_note.is_some() {
                // Only the interaction could show this to its user alone: say in the
                // channel that it failed, not why.
                let note = format!(
                    "✗ it did not complete, and what went wrong was for the person who ran it only; run {} again to see it.",
                    self.what
                );
                return self.public(&note, Parts::default()).await;
            }
            return self.public(text, Parts::default()).await;
        };
        let what = format!("answering {} privately", self.what);
        let parts = reply::split(text, reply::LIMIT);
        let mut parts = parts.into_iter().take(reply::MAX_PARTS);
        let first = parts.next().unwrap_or_default();
        let r = if self.answered {
            // A public message exists (progress, a deferral, or the confirmation prompt):
            // say there that it did not complete, and send the details privately.
            let note = format!(
                "✗ {} did not complete; the details were sent to whoever ran it.",
                self.what
            );
            let r = interaction
                .edit(
                    http,
                    EditInteractionResponse::new()
                        .content(note)
                        .components(Vec::new()),
                )
                .await
                .map(|_| ());
            if interaction_gone(&r) {
                r
            } else {
                report(&what, r);
                interaction
                    .followup(
                        http,
                        CreateInteractionResponseFollowup::new()
                            .content(first)
                            .ephemeral(true),
                    )
                    .await
                    .map(|_| ())
            }
        } else {
            let m = CreateInteractionResponseMessage::new()
                .content(first)
                .ephemeral(true);
            interaction
                .respond(http, CreateInteractionResponse::Message(m))
                .await
        };
        if interaction_gone(&r) {
            self.move_to_channel();
            return Box::pin(self.private(text)).await;
        }
        self.answered |= report(&what, r).is_some();
        for part in parts {
            report(
                &what,
                interaction
                    .followup(
                        http,
                        CreateInteractionResponseFollowup::new()
                            .content(part)
                            .ephemeral(true),
                    )
                    .await,
            );
        }
    }
}

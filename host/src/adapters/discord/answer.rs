//! Showing one command's life in Discord: an answer within the interaction deadline (or a
//! deferral), progress as edits of that message, errors only to the user who asked, long
//! output split or attached, and Confirm/Cancel buttons for dangerous commands.

use super::reply::{self, Shaped};
use super::report;
use crate::capabilities::ProgressSink;
use crate::dispatch::{Kind, Response};
use serenity::all::{
    ButtonStyle, ChannelId, CommandInteraction, ComponentInteraction, CreateActionRow,
    CreateAttachment, CreateButton, CreateInteractionResponse, CreateInteractionResponseFollowup,
    CreateInteractionResponseMessage, CreateMessage, EditInteractionResponse, EditMessage, Http,
    Message, MessageId,
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
        reply_to: MessageId,
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
        let content = format!(
            "⏳ {}",
            text.chars().take(reply::LIMIT - 2).collect::<String>()
        );
        self.last_edit = Instant::now();
        let what = format!("showing progress of {}", self.what);
        match &self.target {
            Target::Interaction { http, interaction } => {
                if self.answered {
                    report(
                        &what,
                        interaction
                            .edit(http, EditInteractionResponse::new().content(content))
                            .await,
                    );
                } else {
                    let r = interaction
                        .respond(
                            http,
                            CreateInteractionResponse::Message(
                                CreateInteractionResponseMessage::new().content(content),
                            ),
                        )
                        .await;
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
                    let m = channel
                        .send_message(
                            http,
                            CreateMessage::new()
                                .content(content)
                                .reference_message((*channel, *reply_to)),
                        )
                        .await;
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
        match &resp.kind {
            Kind::Confirm { token } => self.public(&resp.text, buttons(token)).await,
            _ if resp.ephemeral => self.private(&resp.text).await,
            _ => self.public(&resp.text, Vec::new()).await,
        }
    }

    async fn public(&mut self, text: &str, components: Vec<CreateActionRow>) {
        let what = format!("answering {}", self.what);
        let (first, rest, file) = match reply::shape(text) {
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
        match &self.target {
            Target::Interaction { http, interaction } => {
                if self.answered {
                    let mut e = EditInteractionResponse::new()
                        .content(first)
                        .components(components);
                    if let Some(f) = file {
                        e = e.new_attachment(f);
                    }
                    report(&what, interaction.edit(http, e).await);
                } else {
                    let mut m = CreateInteractionResponseMessage::new()
                        .content(first)
                        .components(components);
                    if let Some(f) = file {
                        m = m.add_file(f);
                    }
                    self.answered = report(
                        &what,
                        interaction
                            .respond(http, CreateInteractionResponse::Message(m))
                            .await,
                    )
                    .is_some();
                }
                for part in rest {
                    report(
                        &what,
                        interaction
                            .followup(http, CreateInteractionResponseFollowup::new().content(part))
                            .await,
                    );
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
                                    EditMessage::new().content(first).components(components),
                                )
                                .await,
                        );
                    }
                    _ => {
                        let mut m = CreateMessage::new()
                            .content(first)
                            .components(components)
                            .reference_message((*channel, *reply_to));
                        if let Some(f) = file {
                            m = m.add_file(f);
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
            return self.public(text, Vec::new()).await;
        };
        let what = format!("answering {} privately", self.what);
        let parts = reply::split(text, reply::LIMIT);
        let mut parts = parts.into_iter().take(reply::MAX_PARTS);
        let first = parts.next().unwrap_or_default();
        if self.answered {
            // A public message exists (progress, a deferral, or the confirmation prompt):
            // say there that it did not complete, and send the details privately.
            let note = format!(
                "✗ {} did not complete; the details were sent to whoever ran it.",
                self.what
            );
            report(
                &what,
                interaction
                    .edit(
                        http,
                        EditInteractionResponse::new()
                            .content(note)
                            .components(Vec::new()),
                    )
                    .await,
            );
            report(
                &what,
                interaction
                    .followup(
                        http,
                        CreateInteractionResponseFollowup::new()
                            .content(first)
                            .ephemeral(true),
                    )
                    .await,
            );
        } else {
            let m = CreateInteractionResponseMessage::new()
                .content(first)
                .ephemeral(true);
            self.answered = report(
                &what,
                interaction
                    .respond(http, CreateInteractionResponse::Message(m))
                    .await,
            )
            .is_some();
        }
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

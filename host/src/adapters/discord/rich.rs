//! Contract 0.2's rich parts as Discord builds them: embeds, files and components (with
//! the host's custom ids, so a press finds its command again).

use crate::model::{ButtonStyle as Style, Component};
use crate::render::{encode_custom_id, Rich};
use serenity::all::{
    ButtonStyle, CreateActionRow, CreateAttachment, CreateButton, CreateEmbed, CreateEmbedFooter,
    CreateSelectMenu, CreateSelectMenuKind, CreateSelectMenuOption, Timestamp,
};

/// What Discord sends beside the text.
#[derive(Clone, Default)]
pub struct Parts {
    pub embeds: Vec<CreateEmbed>,
    pub files: Vec<CreateAttachment>,
    pub components: Vec<CreateActionRow>,
}

/// The rich parts of an answer (checked by the dispatcher against Discord's limits).
pub fn parts(rich: &Rich) -> Parts {
    let embeds = rich
        .embeds
        .iter()
        .map(|e| {
            let mut c = CreateEmbed::new();
            if let Some(t) = &e.title {
                c = c.title(t);
            }
            if let Some(d) = &e.description {
                c = c.description(d);
            }
            if let Some(u) = &e.url {
                c = c.url(u);
            }
            if let Some(col) = e.color {
                c = c.colour(col);
            }
            for f in &e.fields {
                c = c.field(&f.name, &f.value, f.inline);
            }
            if let Some(f) = &e.footer {
                c = c.footer(CreateEmbedFooter::new(f));
            }
            if let Some(t) = e
                .timestamp
                .as_deref()
                .and_then(|t| Timestamp::parse(t).ok())
            {
                c = c.timestamp(t);
            }
            c
        })
        .collect();
    let files = rich
        .attachments
        .iter()
        .map(|a| CreateAttachment::bytes(a.data.clone(), a.name.clone()))
        .collect();
    let mut components = Vec::new();
    for row in &rich.components {
        let mut buttons = Vec::new();
        for c in row {
            match c {
                Component::Button(b) => {
                    let Ok(id) =
                        encode_custom_id(&b.action.command, b.action.confirm, &b.action.custom_id)
                    else {
                        continue;
                    };
                    let style = match b.style {
                        Style::Primary => ButtonStyle::Primary,
                        Style::Secondary => ButtonStyle::Secondary,
                        Style::Success => ButtonStyle::Success,
                        Style::Danger => ButtonStyle::Danger,
                    };
                    buttons.push(
                        CreateButton::new(id)
                            .label(&b.label)
                            .style(style)
                            .disabled(b.disabled),
                    );
                }
                Component::Link(l) => buttons.push(CreateButton::new_link(&l.url).label(&l.label)),
                Component::Select(s) => {
                    let Ok(id) =
                        encode_custom_id(&s.action.command, s.action.confirm, &s.action.custom_id)
                    else {
                        continue;
                    };
                    let options = s
                        .options
                        .iter()
                        .map(|o| {
                            let mut opt = CreateSelectMenuOption::new(&o.label, &o.value);
                            if let Some(d) = &o.description {
                                opt = opt.description(d);
                            }
                            opt
                        })
                        .collect();
                    let mut menu =
                        CreateSelectMenu::new(id, CreateSelectMenuKind::String { options })
                            .min_values(s.min_values.min(25) as u8)
                            .max_values(s.max_values.min(25) as u8);
                    if let Some(p) = &s.placeholder {
                        menu = menu.placeholder(p);
                    }
                    components.push(CreateActionRow::SelectMenu(menu));
                }
            }
        }
        if !buttons.is_empty() {
            components.push(CreateActionRow::Buttons(buttons));
        }
    }
    Parts {
        embeds,
        files,
        components,
    }
}

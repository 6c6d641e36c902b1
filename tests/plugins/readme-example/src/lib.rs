//! The plugin shown in the README, compiled so the README stays true.
use chatops_sdk::*;

struct Deploy;

impl Plugin for Deploy {
    fn describe() -> PluginInfo {
        PluginInfo::new("deploy", env!("CARGO_PKG_VERSION"), "Deploys services")
            .command(
                Command::new("deploy", "Deploy a service")
                    .option(CommandOption::string("service", "What to deploy").required())
                    .option(
                        CommandOption::string("env", "Where")
                            .required()
                            .choice("Production", "prod")
                            .choice("Staging", "staging"),
                    )
                    .confirm(),
            )
            .http("https://deploy.example.com/api", "starts deploys")
            .secret("deploy-token", "authenticates to the deploy API")
    }

    fn run(inv: Invocation) -> Result<Reply, CommandError> {
        let service = inv.str("service").unwrap_or_default();
        progress(format!("Deploying {service}…"));
        let resp = http::Request::post("https://deploy.example.com/api/deploys")
            .bearer(&secret("deploy-token")?)
            .json(&serde_json::json!({ "service": service, "env": inv.str("env") }))?
            .send()?;
        Ok(Reply::text(format!("Deploy of {service} started"))
            .embed(
                Embed::new()
                    .title(format!("Deploying {service}"))
                    .color(colors::BLUE)
                    .inline_field("Status", resp.status.to_string())
                    .inline_field("By", inv.user.name.clone()),
            )
            .button(
                Button::new("Roll back", "deploy", &format!("rollback:{service}"))
                    .danger()
                    .confirm(),
            ))
    }

    fn on_component(press: ComponentPress) -> Result<PressResult, CommandError> {
        let service = press.custom_id.trim_start_matches("rollback:");
        Ok(PressResult::Edit(Message::text(format!(
            "Rollback of {service} requested by {}",
            press.user.name
        ))))
    }
}

plugin!(Deploy);

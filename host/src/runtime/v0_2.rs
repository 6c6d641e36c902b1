//! The host side of `chatops:plugin@0.2.0`'s imports: `log`, `secrets` and `kv` do what
//! their 0.1 versions do (the same capability code, reached through 0.1's views); `chat`
//! takes rich messages, whose text leaves through the exit like every plugin output.

use super::HostState;
use crate::capabilities::{kv::KvView, log::LogView, secrets::SecretsView, Sandbox};
use crate::model::bindings as v1;
use crate::model::bindings_v0_2::chatops::plugin as v2;
use crate::model::Message;
use wasmtime::component::{HasData, HasSelf, Linker};

/// The 0.2 interfaces the host provides (checked with `runtime::load::provided`).
pub const INTERFACES: &[&str] = &[
    "chatops:plugin/model",
    "chatops:plugin/log",
    "chatops:plugin/chat",
    "chatops:plugin/secrets",
    "chatops:plugin/kv",
];

struct View<'a>(&'a crate::capabilities::CallContext);
struct HasView;
impl HasData for HasView {
    type Data<'a> = View<'a>;
}

pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    v2::model::add_to_linker::<_, HasSelf<HostState>>(linker, |s| s)?;
    v2::log::add_to_linker::<_, HasView>(linker, |s| View(s.call()))?;
    v2::chat::add_to_linker::<_, HasView>(linker, |s| View(s.call()))?;
    v2::secrets::add_to_linker::<_, HasView>(linker, |s| View(s.call()))?;
    v2::kv::add_to_linker::<_, HasView>(linker, |s| View(s.call()))?;
    Ok(())
}

impl v2::model::Host for HostState {}

impl v2::log::Host for View<'_> {
    async fn log(&mut self, level: v2::log::Level, message: String) -> wasmtime::Result<()> {
        use v1::chatops::plugin::log::{Host, Level};
        let level = match level {
            v2::log::Level::Trace => Level::Trace,
            v2::log::Level::Debug => Level::Debug,
            v2::log::Level::Info => Level::Info,
            v2::log::Level::Warn => Level::Warn,
            v2::log::Level::Error => Level::Error,
        };
        LogView(self.0).log(level, message).await
    }
}

impl v2::chat::Host for View<'_> {
    async fn progress(&mut self, message: Message) -> wasmtime::Result<()> {
        self.0.exit.progress(&crate::render::plain(&message));
        Ok(())
    }

    async fn post(
        &mut self,
        channel: String,
        message: Message,
    ) -> wasmtime::Result<Result<(), v2::chat::ChatError>> {
        use v1::chatops::plugin::chat::ChatError;
        Ok(
            match crate::capabilities::chat::post_message(self.0, &channel, &message).await {
                Ok(()) => Ok(()),
                Err(ChatError::NotGranted(c)) => Err(v2::chat::ChatError::NotGranted(c)),
                Err(ChatError::Failed(e)) => Err(v2::chat::ChatError::Failed(e)),
            },
        )
    }
}

impl v2::secrets::Host for View<'_> {
    async fn get(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<String, v2::secrets::SecretError>> {
        use v1::chatops::plugin::secrets::{Host, SecretError};
        use v2::secrets::SecretError as E;
        Ok(SecretsView(self.0).get(name).await?.map_err(|e| match e {
            SecretError::NotGranted(s) => E::NotGranted(s),
            SecretError::NotFound(s) => E::NotFound(s),
            SecretError::Unavailable(s) => E::Unavailable(s),
        }))
    }
}

fn kv_error(e: v1::chatops::plugin::kv::KvError) -> v2::kv::KvError {
    use v1::chatops::plugin::kv::KvError;
    match e {
        KvError::NotGranted => v2::kv::KvError::NotGranted,
        KvError::Quota(s) => v2::kv::KvError::Quota(s),
        KvError::Failed(s) => v2::kv::KvError::Failed(s),
    }
}

impl v2::kv::Host for View<'_> {
    async fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, v2::kv::KvError>> {
        use v1::chatops::plugin::kv::Host;
        Ok(KvView(self.0).get(key).await?.map_err(kv_error))
    }
    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), v2::kv::KvError>> {
        use v1::chatops::plugin::kv::Host;
        Ok(KvView(self.0).set(key, value).await?.map_err(kv_error))
    }
    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), v2::kv::KvError>> {
        use v1::chatops::plugin::kv::Host;
        Ok(KvView(self.0).delete(key).await?.map_err(kv_error))
    }
    async fn list_keys(
        &mut self,
        prefix: String,
    ) -> wasmtime::Result<Result<Vec<String>, v2::kv::KvError>> {
        use v1::chatops::plugin::kv::Host;
        Ok(KvView(self.0).list_keys(prefix).await?.map_err(kv_error))
    }
}

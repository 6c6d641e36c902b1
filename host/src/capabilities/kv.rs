//! `chatops:plugin/kv`: each plugin's own namespace in the host's store, if granted.

use super::{CallContext, Sandbox};
use crate::model::bindings::chatops::plugin::kv::{self as wit, Host, KvError};
use crate::store::Store;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

pub const INTERFACES: &[&str] = &["chatops:plugin/kv"];

pub const MAX_KEY_BYTES: usize = 512;
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
pub const MAX_KEYS: usize = 10_000;

/// The plugin's namespace in the host's store, seen from one sandbox.
pub struct KvView<'a>(pub(crate) &'a CallContext);

struct HasKv;
impl HasData for HasKv {
    type Data<'a> = KvView<'a>;
}

pub fn add_to_linker<T: Sandbox>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasKv>(linker, |t| KvView(t.call()))
}

impl KvView<'_> {
    fn kv(&mut self) -> Result<Arc<Store>, KvError> {
        let call = self.0;
        call.exit.capability(call.grants.kv, "kv");
        if !call.grants.kv {
            let plugin = &call.plugin;
            call.notice(format!(
                "refused: plugin `{plugin}` used the key-value store, which is not granted to it; to allow it: chatops grant {plugin} kv"
            ));
            return Err(KvError::NotGranted);
        }
        call.store
            .clone()
            .ok_or_else(|| KvError::Failed("the host has no store configured".into()))
    }
}

fn failed(e: crate::store::StoreError) -> KvError {
    tracing::error!("kv store: {e}");
    KvError::Failed("the host's store failed; the admin's log has details".into())
}

impl Host for KvView<'_> {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, KvError>> {
        let plugin = self.0.plugin.clone();
        Ok(match self.kv() {
            Ok(kv) => kv.kv_get_async(&plugin, &key).await.map_err(failed),
            Err(e) => Err(e),
        })
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), KvError>> {
        let plugin = self.0.plugin.clone();
        let kv = match self.kv() {
            Ok(kv) => kv,
            Err(e) => return Ok(Err(e)),
        };
        if key.len() > MAX_KEY_BYTES {
            return Ok(Err(KvError::Quota(format!(
                "keys are at most {MAX_KEY_BYTES} bytes"
            ))));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Ok(Err(KvError::Quota(format!(
                "values are at most {MAX_VALUE_BYTES} bytes"
            ))));
        }
        Ok(async {
            let exists = kv
                .kv_get_async(&plugin, &key)
                .await
                .map_err(failed)?
                .is_some();
            if !exists && kv.kv_count_async(&plugin).await.map_err(failed)? >= MAX_KEYS {
                return Err(KvError::Quota(format!(
                    "a plugin keeps at most {MAX_KEYS} keys"
                )));
            }
            kv.kv_set_async(&plugin, &key, &value).await.map_err(failed)
        }
        .await)
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), KvError>> {
        let plugin = self.0.plugin.clone();
        Ok(match self.kv() {
            Ok(kv) => kv.kv_delete_async(&plugin, &key).await.map_err(failed),
            Err(e) => Err(e),
        })
    }

    async fn list_keys(
        &mut self,
        prefix: String,
    ) -> wasmtime::Result<Result<Vec<String>, KvError>> {
        let plugin = self.0.plugin.clone();
        Ok(match self.kv() {
            Ok(kv) => kv.kv_keys_async(&plugin, &prefix).await.map_err(failed),
            Err(e) => Err(e),
        })
    }
}

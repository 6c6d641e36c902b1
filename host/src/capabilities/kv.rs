//! `chatops:plugin/kv`: each plugin's own namespace in the host's store, if granted.

use crate::runtime::bindings::chatops::plugin::kv::{Host, KvError};
use crate::runtime::HostState;
use crate::store::Store;
use std::sync::Arc;

pub const MAX_KEY_BYTES: usize = 512;
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
pub const MAX_KEYS: usize = 10_000;

/// The store, seen from one plugin.
pub struct KvStore {
    pub store: Arc<Store>,
}

impl HostState {
    fn kv(&mut self) -> Result<Arc<KvStore>, KvError> {
        if !self.call.grants.kv {
            let plugin = &self.call.plugin;
            self.call.notice(format!(
                "refused: plugin `{plugin}` used the key-value store, which is not granted to it; to allow it: chatops grant {plugin} kv"
            ));
            return Err(KvError::NotGranted);
        }
        self.call
            .kv
            .clone()
            .ok_or_else(|| KvError::Failed("the host has no store configured".into()))
    }
}

fn failed(e: rusqlite::Error) -> KvError {
    tracing::error!("kv store: {e}");
    KvError::Failed("the host's store failed; the admin's log has details".into())
}

impl Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, KvError>> {
        let plugin = self.call.plugin.clone();
        Ok(self
            .kv()
            .and_then(|kv| kv.store.kv_get(&plugin, &key).map_err(failed)))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), KvError>> {
        let plugin = self.call.plugin.clone();
        Ok(self.kv().and_then(|kv| {
            if key.len() > MAX_KEY_BYTES {
                return Err(KvError::Quota(format!(
                    "keys are at most {MAX_KEY_BYTES} bytes"
                )));
            }
            if value.len() > MAX_VALUE_BYTES {
                return Err(KvError::Quota(format!(
                    "values are at most {MAX_VALUE_BYTES} bytes"
                )));
            }
            let exists = kv.store.kv_get(&plugin, &key).map_err(failed)?.is_some();
            if !exists && kv.store.kv_count(&plugin).map_err(failed)? >= MAX_KEYS {
                return Err(KvError::Quota(format!(
                    "a plugin keeps at most {MAX_KEYS} keys"
                )));
            }
            kv.store.kv_set(&plugin, &key, &value).map_err(failed)
        }))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), KvError>> {
        let plugin = self.call.plugin.clone();
        Ok(self
            .kv()
            .and_then(|kv| kv.store.kv_delete(&plugin, &key).map_err(failed)))
    }

    async fn list_keys(
        &mut self,
        prefix: String,
    ) -> wasmtime::Result<Result<Vec<String>, KvError>> {
        let plugin = self.call.plugin.clone();
        Ok(self
            .kv()
            .and_then(|kv| kv.store.kv_keys(&plugin, &prefix).map_err(failed)))
    }
}

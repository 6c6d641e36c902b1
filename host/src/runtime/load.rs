//! Loading a plugin: compile (through the compiled-code cache), check its imports against
//! what the host provides, and ask it to describe itself with nothing granted.

use super::{first_line, sha256_hex, Call, CallResult, CompiledPlugin, LoadError, Runtime};
use crate::capabilities::CallContext;
use crate::model::PluginInfo;
use wasmtime::component::Component;

/// The standard WASI 0.2 packages `wasmtime_wasi` links (no filesystem preopens, sockets
/// closed): a plugin may import them freely.
const WASI_BASE: &[&str] = &["io", "clocks", "random", "cli", "filesystem", "sockets"];

/// Whether the host provides `import` (`package:name/interface@version`): base WASI 0.2,
/// the contract's types, and whatever a capability provides.
pub(super) fn provided(import: &str) -> bool {
    let Some((interface, version)) = import.split_once('@') else {
        return false;
    };
    if let Some(rest) = interface.strip_prefix("wasi:") {
        let package = rest.split('/').next().unwrap_or("");
        return version.starts_with("0.2.")
            && (WASI_BASE.contains(&package) || crate::capabilities::provides(interface));
    }
    if interface.starts_with("chatops:plugin/") {
        return (version.starts_with("0.1.")
            && (interface == "chatops:plugin/types" || crate::capabilities::provides(interface)))
            || (version.starts_with("0.2.") && super::v0_2::INTERFACES.contains(&interface));
    }
    false
}

fn empty_info() -> PluginInfo {
    PluginInfo {
        name: String::new(),
        version: String::new(),
        description: String::new(),
        commands: vec![],
        capabilities: vec![],
    }
}

impl Runtime {
    /// Read from the cache, or compile: up to seconds of CPU, done off the runtime's
    /// workers (a plugin added or rebuilt while the bot runs does not stall other commands).
    fn compile(&self, bytes: &[u8], digest: &str) -> wasmtime::Result<Component> {
        match &self.cache {
            Some(cache) => Ok(cache.get_or_compile(&self.engine, bytes, digest)?.0),
            None => crate::off_the_workers(|| Component::from_binary(&self.engine, bytes)),
        }
    }

    /// Compile and check a plugin, then ask it to describe itself (with nothing granted).
    pub async fn load(
        &self,
        bytes: &[u8],
        source_name: &str,
        limits: &crate::config::Limits,
    ) -> Result<CompiledPlugin, LoadError> {
        let digest = sha256_hex(bytes);
        let component = self
            .compile(bytes, &digest)
            .map_err(|e| LoadError::NotAComponent {
                source_name: source_name.into(),
                reason: first_line(&format!("{e:#}")),
            })?;
        for (import, _) in component.component_type().imports(&self.engine) {
            if !provided(import) {
                return Err(LoadError::MissingImport {
                    source_name: source_name.into(),
                    import: import.into(),
                });
            }
        }
        let instance_pre =
            self.linker
                .instantiate_pre(&component)
                .map_err(|e| LoadError::MissingImport {
                    source_name: source_name.into(),
                    import: first_line(&format!("{e:#}")),
                })?;
        let not_a_plugin = |e: wasmtime::Error| LoadError::NotAPlugin {
            source_name: source_name.into(),
            reason: first_line(&format!("{e:#}")),
        };
        let exports =
            super::guest::Exports::resolve(&component, &instance_pre).map_err(not_a_plugin)?;
        let mut plugin = CompiledPlugin {
            info: empty_info(),
            settings: Vec::new(),
            digest,
            size: bytes.len(),
            pre: instance_pre,
            exports,
        };
        let ctx = CallContext::ungranted(source_name, limits.clone());
        match self.call(&plugin, ctx, Call::Describe).await {
            Ok(CallResult::Describe(info, settings)) => {
                let checked = super::validate::plugin_info(&info)
                    .and_then(|()| super::validate::settings(&settings))
                    .and_then(|()| super::validate::exports(&info, &plugin));
                checked.map_err(|reason| LoadError::BadInfo {
                    source_name: source_name.into(),
                    reason,
                })?;
                plugin.info = info;
                plugin.settings = settings;
                Ok(plugin)
            }
            Ok(_) => Err(LoadError::NotAPlugin {
                source_name: source_name.into(),
                reason: "describe returned another kind of result".into(),
            }),
            Err(error) => Err(LoadError::Describe {
                source_name: source_name.into(),
                error,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::provided;

    #[test]
    fn imports_are_checked_by_package_and_version() {
        assert!(provided("wasi:http/outgoing-handler@0.2.12"));
        assert!(provided("wasi:cli/environment@0.2.0"));
        assert!(provided("wasi:config/store@0.2.0-rc.1"));
        assert!(provided("chatops:plugin/secrets@0.1.0"));
        assert!(provided("chatops:plugin/types@0.1.0"));
        assert!(!provided("chatops:plugin/telepathy@0.1.0"));
        assert!(provided("chatops:plugin/secrets@0.2.0"));
        assert!(provided("chatops:plugin/model@0.2.0"));
        assert!(!provided("chatops:plugin/types@0.2.0"));
        assert!(!provided("chatops:plugin/secrets@0.3.0"));
        assert!(!provided("wasi:http/types@0.3.0"));
        assert!(!provided("wasi:keyvalue/store@0.2.0-draft"));
        assert!(!provided("acme:rockets/launch@1.0.0"));
    }
}

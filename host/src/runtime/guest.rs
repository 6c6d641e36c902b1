//! Calling a plugin's exports, whichever contract version it was built for: one set of
//! bindings per version (`model::bindings`, `model::bindings_v0_2`) and, for 0.1, the
//! adapter to the host's model (`v0_1`).

use super::{v0_1, Call, CallResult, HostState};
use crate::model::bindings::PluginIndices as IndicesV1;
use crate::model::bindings_v0_2::PluginIndices as IndicesV2;
use crate::model::{
    AutocompleteRequest, ComponentPress, Invocation, OptionChoice, PressResult, Setting,
    AUTOCOMPLETE_FUNCTION, AUTOCOMPLETE_INTERFACE, COMPONENTS_FUNCTION, COMPONENTS_INTERFACE,
    CONFIRMATION_FUNCTION, CONFIRMATION_INTERFACE, CONFIRMATION_INTERFACE_V0_2, SETTINGS_FUNCTION,
    SETTINGS_INTERFACE, SETTINGS_INTERFACE_V0_2,
};
use crate::model::{CommandError, Reply};
use std::sync::atomic::{AtomicBool, Ordering};
use wasmtime::component::{
    Component, ComponentExportIndex, Func, Instance, InstancePre, TypedFunc,
};
use wasmtime::Store;

/// Which contract a plugin was built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V0_1,
    V0_2,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Version::V0_1 => "chatops:plugin@0.1.0",
            Version::V0_2 => "chatops:plugin@0.2.0",
        })
    }
}

pub(super) enum Indices {
    V0_1(IndicesV1),
    V0_2(IndicesV2),
}

/// A plugin's exports, resolved once at load.
pub(super) struct Exports {
    pub indices: Indices,
    pub settings: Option<ComponentExportIndex>,
    pub confirm: Option<ComponentExportIndex>,
    pub component: Option<ComponentExportIndex>,
    pub autocomplete: Option<ComponentExportIndex>,
    /// 0.2's `run`, called on every command without loading the other exports.
    run: Option<ComponentExportIndex>,
    /// `run`'s type was checked against the host's once (every instance of one component
    /// has the same types), so later calls skip the check.
    run_checked: AtomicBool,
}

/// The host's type of 0.2's `run`.
type RunFunc<'a> = TypedFunc<(&'a Invocation,), (Result<Reply, CommandError>,)>;

/// `AskThenRun` is split into its two calls at the top of [`Exports::call`].
fn resolved_above() -> wasmtime::Error {
    wasmtime::format_err!("ask-then-run reached a single call (a host bug)")
}

/// The interface 0.2 plugins export their commands from.
const GUEST_INTERFACE_V0_2: &str = "chatops:plugin/guest@0.2.0";

fn function(c: &Component, interface: &str, func: &str) -> Option<ComponentExportIndex> {
    c.get_export_index(None, interface)
        .and_then(|i| c.get_export_index(Some(&i), func))
}

impl Exports {
    /// The exports of the newest contract the component implements.
    pub fn resolve(
        component: &Component,
        pre: &InstancePre<HostState>,
    ) -> wasmtime::Result<Exports> {
        let v2 = component
            .get_export_index(None, GUEST_INTERFACE_V0_2)
            .is_some();
        if v2 {
            return Ok(Exports {
                indices: Indices::V0_2(IndicesV2::new(pre)?),
                settings: function(component, SETTINGS_INTERFACE_V0_2, SETTINGS_FUNCTION),
                confirm: function(
                    component,
                    CONFIRMATION_INTERFACE_V0_2,
                    CONFIRMATION_FUNCTION,
                ),
                component: function(component, COMPONENTS_INTERFACE, COMPONENTS_FUNCTION),
                autocomplete: function(component, AUTOCOMPLETE_INTERFACE, AUTOCOMPLETE_FUNCTION),
                run: function(component, GUEST_INTERFACE_V0_2, "run"),
                run_checked: AtomicBool::new(false),
            });
        }
        Ok(Exports {
            indices: Indices::V0_1(IndicesV1::new(pre)?),
            settings: function(component, SETTINGS_INTERFACE, SETTINGS_FUNCTION),
            confirm: function(component, CONFIRMATION_INTERFACE, CONFIRMATION_FUNCTION),
            component: None,
            autocomplete: None,
            run: None,
            run_checked: AtomicBool::new(false),
        })
    }

    pub fn version(&self) -> Version {
        match self.indices {
            Indices::V0_1(_) => Version::V0_1,
            Indices::V0_2(_) => Version::V0_2,
        }
    }

    async fn settings(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<Vec<Setting>> {
        Ok(match self.settings {
            Some(index) => {
                let f = instance.get_typed_func::<(), (Vec<Setting>,)>(&mut *store, index)?;
                f.call_async(&mut *store, ()).await?.0
            }
            None => Vec::new(),
        })
    }

    /// 0.2's `run` in this instance. Its type is checked against [`RunFunc`] the first
    /// time; every instance of one component has the same export types, so later calls
    /// take it as checked (the per-call check of every export was ~5% of a command).
    fn run_func(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<Func> {
        let index = self
            .run
            .ok_or_else(|| wasmtime::format_err!("no `run` export"))?;
        if !self.run_checked.load(Ordering::Acquire) {
            let f = instance.get_typed_func::<(&Invocation,), (Result<Reply, CommandError>,)>(
                &mut *store,
                index,
            )?;
            self.run_checked.store(true, Ordering::Release);
            return Ok(*f.func());
        }
        instance
            .get_func(&mut *store, index)
            .ok_or_else(|| wasmtime::format_err!("no `run` export"))
    }

    /// Make `call` on a fresh instance.
    pub async fn call(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        call: Call,
    ) -> wasmtime::Result<CallResult> {
        let call = match call {
            Call::AskThenRun(inv) => {
                store.data_mut().asking = true;
                let asked =
                    Box::pin(self.call(store, instance, Call::NeedsConfirmation(inv.clone())))
                        .await?;
                store.data_mut().asking = false;
                if let CallResult::NeedsConfirmation(Some(question)) = asked {
                    return Ok(CallResult::NeedsConfirmation(Some(question)));
                }
                Call::Run(inv)
            }
            call => call,
        };
        match &self.indices {
            Indices::V0_1(indices) => {
                let world = indices.load(&mut *store, instance)?;
                let guest = world.chatops_plugin_guest();
                Ok(match call {
                    Call::Describe => {
                        let info = guest.call_describe(&mut *store).await?;
                        let s = self.settings(store, instance).await?;
                        CallResult::Describe(v0_1::plugin_info(info), s)
                    }
                    Call::Run(inv) => {
                        let r = guest.call_run(&mut *store, &v0_1::invocation(&inv)).await?;
                        CallResult::Run(v0_1::reply(r))
                    }
                    Call::Event(ev) => {
                        let r = guest.call_on_event(&mut *store, &v0_1::event(&ev)).await?;
                        CallResult::Event(v0_1::posts(r))
                    }
                    Call::NeedsConfirmation(inv) => {
                        let question = match self.confirm {
                            Some(index) => {
                                type V1Inv =
                                    crate::model::bindings::chatops::plugin::types::Invocation;
                                let f = instance.get_typed_func::<(&V1Inv,), (Option<String>,)>(
                                    &mut *store,
                                    index,
                                )?;
                                f.call_async(&mut *store, (&v0_1::invocation(&inv),))
                                    .await?
                                    .0
                            }
                            None => None,
                        };
                        CallResult::NeedsConfirmation(question)
                    }
                    Call::Component(_) => {
                        CallResult::Component(Err(crate::model::CommandError::Failed(
                            "it was built for chatops:plugin@0.1.0, which has no buttons".into(),
                        )))
                    }
                    Call::Autocomplete(_) => CallResult::Autocomplete(Vec::new()),
                    Call::AskThenRun(_) => return Err(resolved_above()),
                })
            }
            Indices::V0_2(_) if matches!(call, Call::Run(_)) && self.run.is_some() => {
                let Call::Run(inv) = call else { unreachable!() };
                let func = self.run_func(store, instance)?;
                // SAFETY: `run_func` returns `run` only once its type was checked against
                // exactly `RunFunc` (see there).
                let f: RunFunc<'_> = unsafe { TypedFunc::new_unchecked(func) };
                Ok(CallResult::Run(f.call_async(&mut *store, (&inv,)).await?.0))
            }
            Indices::V0_2(indices) => {
                let world = indices.load(&mut *store, instance)?;
                let guest = world.chatops_plugin_guest();
                Ok(match call {
                    Call::Describe => {
                        let info = guest.call_describe(&mut *store).await?;
                        let s = self.settings(store, instance).await?;
                        CallResult::Describe(info, s)
                    }
                    Call::Run(inv) => CallResult::Run(guest.call_run(&mut *store, &inv).await?),
                    Call::Event(ev) => {
                        CallResult::Event(guest.call_on_event(&mut *store, &ev).await?)
                    }
                    Call::NeedsConfirmation(inv) => {
                        let question = match self.confirm {
                            Some(index) => {
                                let f = instance
                                    .get_typed_func::<(&Invocation,), (Option<String>,)>(
                                        &mut *store,
                                        index,
                                    )?;
                                f.call_async(&mut *store, (&inv,)).await?.0
                            }
                            None => None,
                        };
                        CallResult::NeedsConfirmation(question)
                    }
                    Call::Component(press) => match self.component {
                        Some(index) => {
                            let f = instance.get_typed_func::<
                                (&ComponentPress,),
                                (Result<PressResult, crate::model::CommandError>,),
                            >(&mut *store, index)?;
                            CallResult::Component(f.call_async(&mut *store, (&press,)).await?.0)
                        }
                        None => CallResult::Component(Err(crate::model::CommandError::Failed(
                            "it does not export `components` (on-component)".into(),
                        ))),
                    },
                    Call::Autocomplete(request) => match self.autocomplete {
                        Some(index) => {
                            let f = instance
                                .get_typed_func::<(&AutocompleteRequest,), (Vec<OptionChoice>,)>(
                                    &mut *store,
                                    index,
                                )?;
                            CallResult::Autocomplete(
                                f.call_async(&mut *store, (&request,)).await?.0,
                            )
                        }
                        None => CallResult::Autocomplete(Vec::new()),
                    },
                    Call::AskThenRun(_) => return Err(resolved_above()),
                })
            }
        }
    }
}

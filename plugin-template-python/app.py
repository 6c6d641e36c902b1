"""my-plugin: a chatops plugin in Python. Edit this file; the README says how to build and try it."""

from wit_world import exports
from wit_world.imports import chatops_plugin_types as t
from wit_world.imports import store
from componentize_py_types import Err


class Guest(exports.Guest):
    def describe(self) -> t.PluginInfo:
        return t.PluginInfo(
            name="my-plugin",
            version="0.1.0",
            description="Says hello",
            commands=[
                t.Command(
                    name="my-plugin",
                    description="Greet someone",
                    options=[
                        t.CommandOption("name", "Who to greet", t.OptionKind.STRING, True, []),
                        t.CommandOption(
                            "style",
                            "How to say it",
                            t.OptionKind.STRING,
                            False,
                            [t.OptionChoice("plain", "plain"), t.OptionChoice("loud", "loud")],
                        ),
                    ],
                    confirm=False,
                )
            ],
            # Ask the admin for what you need, saying why; nothing is granted by asking:
            #   t.CapabilityRequest(t.Capability_Http("https://api.example.com"), "looks up deploy status")
            capabilities=[],
        )

    def run(self, inv: t.Invocation) -> t.Reply:
        args = {a.name: a.value.value for a in inv.args}
        # A setting the admin gives with `chatops config my-plugin salutation Howdy`.
        salutation = store.get("salutation") or "Hello"
        return t.Reply(text=greeting(salutation, args.get("name", ""), args.get("style") == "loud"), ephemeral=False)

    def on_event(self, event: t.Event) -> list[t.Post]:
        return []


def greeting(salutation: str, name: str, loud: bool) -> str:
    """Plain logic in plain functions. `raise Err(t.CommandError_…(message))` fails the
    command with that message; any other exception crashes it, and the user sees its message."""
    if not name.strip():
        raise Err(t.CommandError_Usage("tell me who to greet"))
    if name == "crash":
        raise ValueError("asked to crash")
    text = f"{salutation}, {name}!"
    return text.upper() if loud else text

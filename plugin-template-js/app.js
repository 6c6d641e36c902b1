// my-plugin: a chatops plugin in JavaScript. Edit this file; the README says how to build
// and try it. The contract is chatops/wit; its imports are modules named by interface.
import { get as setting } from "wasi:config/store@0.2.0-rc.1";

export const guest = {
  describe() {
    return {
      name: "my-plugin",
      version: "0.1.0",
      description: "Says hello",
      commands: [
        {
          name: "my-plugin",
          description: "Greet someone",
          confirm: false,
          options: [
            { name: "name", description: "Who to greet", kind: "string", required: true, choices: [] },
            {
              name: "style",
              description: "How to say it",
              kind: "string",
              required: false,
              choices: [
                { name: "plain", value: "plain" },
                { name: "loud", value: "loud" },
              ],
            },
          ],
        },
      ],
      // Ask the admin for what you need, saying why; nothing is granted by asking:
      //   { capability: { tag: "http", val: "https://api.example.com" }, reason: "looks up deploy status" }
      capabilities: [],
    };
  },

  run(invocation) {
    const args = Object.fromEntries(invocation.args.map((a) => [a.name, a.value.val]));
    // A setting the admin gives with `chatops config my-plugin salutation Howdy`.
    const salutation = setting("salutation") ?? "Hello";
    return { text: greeting(salutation, args.name ?? "", args.style === "loud"), ephemeral: false };
  },

  onEvent(_event) {
    return [];
  },
};

// Plain logic in plain functions. `throw { tag: "usage" | "denied" | "failed", val: message }`
// fails the command with that message; any other throw crashes it, and the user sees its message.
export function greeting(salutation, name, loud) {
  if (!name.trim()) {
    throw { tag: "usage", val: "tell me who to greet" };
  }
  if (name === "crash") {
    throw new Error("asked to crash");
  }
  const text = `${salutation}, ${name}!`;
  return loud ? text.toUpperCase() : text;
}

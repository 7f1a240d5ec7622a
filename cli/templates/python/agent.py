"""{{name}}: a djinn agent in Python. Handles `{{name}}` and replies on `{{name}}.reply`.

Build: ./build.sh  (componentize-py) -> {{name}}.wasm
Each call runs in a fresh instance: module globals do not survive between calls.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import config, log
from wit_world.imports.types import AgentInfo, Message, PluginError_InvalidInput, RiskLevel


class Agent(exports.Agent):
    def info(self) -> AgentInfo:
        # `id` must equal the manifest's id.
        return AgentInfo(
            id="{{name}}",
            name="{{name}}",
            version="0.1.0",
            capabilities=[],
            subscribes=["{{name}}"],
            risk=RiskLevel.LOW,
        )

    def handle(self, msg: Message) -> list[Message]:
        try:
            value = json.loads(msg.payload)
        except ValueError as e:
            # Returned to the caller as plugin-error.invalid-input.
            raise Err(PluginError_InvalidInput(f"payload is not JSON: {e}"))
        log.log(log.Level.DEBUG, f"handling {msg.topic}")
        reply = {"received": value, "greeting": config.get("greeting")}
        # The host fills in `id` and `sender`; keep the correlation id and metadata.
        return [
            Message(
                id="",
                correlation_id=msg.correlation_id,
                topic="{{name}}.reply",
                sender="",
                recipient=None,
                payload=json.dumps(reply),
                metadata=msg.metadata,
            )
        ]

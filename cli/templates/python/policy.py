"""{{name}}: a djinn policy in Python. Denies messages whose payload contains `forbidden`.

Build: ./build.sh  (componentize-py) -> {{name}}.wasm
"""

from wit_world import exports
from wit_world.imports.types import (
    GateContext,
    Message,
    PolicyInfo,
    Verdict,
    Verdict_Allow,
    Verdict_Deny,
)


class Policy(exports.Policy):
    def info(self) -> PolicyInfo:
        # `id` must equal the manifest's id.
        return PolicyInfo(id="{{name}}", name="{{name}}", version="0.1.0")

    def evaluate(self, msg: Message, ctx: GateContext) -> Verdict:
        if "forbidden" in msg.payload:
            return Verdict_Deny(f"`{msg.topic}` contains a forbidden word")
        return Verdict_Allow()

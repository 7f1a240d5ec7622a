"""python-profanity: a djinn policy written in Python.

Denies any message whose payload contains one of the words listed in its config
(`words`, comma-separated, matched case-insensitively as whole words). The reason
names how many listed words were found, not the words themselves.

Build: ./build.sh  (componentize-py against ../../../wit, world `policy-plugin`).
"""

import re

from wit_world import exports
from wit_world.imports import config, log
from wit_world.imports.types import (
    GateContext,
    Message,
    PolicyInfo,
    Verdict,
    Verdict_Allow,
    Verdict_Deny,
)


def blocked_words() -> set[str]:
    raw = config.get("words") or ""
    return {w.strip().lower() for w in raw.split(",") if w.strip()}


class Policy(exports.Policy):
    def info(self) -> PolicyInfo:
        return PolicyInfo(id="python-profanity", name="Profanity filter (Python)", version="0.1.0")

    def evaluate(self, msg: Message, ctx: GateContext) -> Verdict:
        words = blocked_words()
        if not words:
            log.log(log.Level.WARN, "no `words` configured; allowing everything")
            return Verdict_Allow()
        found = sorted({w for w in re.findall(r"[\w']+", msg.payload.lower()) if w in words})
        if found:
            return Verdict_Deny(
                f"message contains {len(found)} blocked word(s) at stage {ctx.stage.name.lower()}"
            )
        return Verdict_Allow()

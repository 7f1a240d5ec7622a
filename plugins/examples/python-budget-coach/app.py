"""python-budget-coach: a djinn agent written in Python.

Reads the analyzer's `analysis.result` (income, expense, net and category totals in
minor units) and replies on `budget.tips` with budgeting tips, a short note from the
LLM (`llm.complete`) and how many times it has advised so far (kept in `kv`).

Build: ./build.sh  (componentize-py against ../../../wit, world `agent-plugin`).
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import config, kv, llm, log
from wit_world.imports.types import (
    AgentInfo,
    Message,
    PluginError_InvalidInput,
    RiskLevel,
)

COUNT_KEY = "advice-count"


def money(cents: int, currency: str) -> str:
    return f"{currency} {cents / 100:,.2f}"


def tips_for(analysis: dict, target_pct: float) -> tuple[list[str], float | None]:
    currency = str(analysis.get("currency") or "")
    income = int(analysis.get("income_cents") or 0)
    expense = int(analysis.get("expense_cents") or 0)
    net = int(analysis.get("net_cents", income - expense))
    tips: list[str] = []
    rate = None
    if income <= 0:
        tips.append("No income was recorded in this period; check the statement covers your salary account.")
    else:
        rate = round(net * 100.0 / income, 1)
        if net < 0:
            tips.append(
                f"You spent {money(-net, currency)} more than you earned; "
                "cut discretionary spending before anything else."
            )
        elif rate < target_pct:
            gap = int(income * target_pct / 100) - net
            tips.append(
                f"You saved {rate:g}% of income; the target is {target_pct:g}%. "
                f"Saving another {money(gap, currency)} would reach it."
            )
        else:
            tips.append(f"You saved {rate:g}% of income, at or above the {target_pct:g}% target; keep it up.")
    top = analysis.get("top_categories") or []
    if not top and expense > 0:
        totals = analysis.get("category_totals") or []
        top = [
            {
                "category": c.get("category"),
                "expense_cents": c.get("expense_cents", 0),
                "share_pct": round(c.get("expense_cents", 0) * 100.0 / expense, 1),
            }
            for c in totals[:3]
        ]
    for c in top:
        share = float(c.get("share_pct") or 0)
        if share >= 30:
            tips.append(
                f"'{c.get('category')}' takes {share:g}% of your spending "
                f"({money(int(c.get('expense_cents') or 0), currency)}); set a monthly cap for it."
            )
    months = int((analysis.get("period") or {}).get("months") or 0)
    if months > 0 and expense > 0:
        tips.append(
            f"Keep an emergency fund of 3 months of spending: about {money(expense * 3 // months, currency)}."
        )
    return tips, rate


class Agent(exports.Agent):
    def info(self) -> AgentInfo:
        return AgentInfo(
            id="python-budget-coach",
            name="Budget coach (Python)",
            version="0.1.0",
            capabilities=["budgeting", "tips"],
            subscribes=["analysis.result"],
            risk=RiskLevel.LOW,
        )

    def handle(self, msg: Message) -> list[Message]:
        try:
            analysis = json.loads(msg.payload)
        except ValueError as e:
            raise Err(PluginError_InvalidInput(f"payload is not JSON: {e}"))
        if not isinstance(analysis, dict) or "income_cents" not in analysis or "expense_cents" not in analysis:
            raise Err(PluginError_InvalidInput("expected an analysis.result object with income_cents and expense_cents"))
        target = float(config.get("target_savings_pct") or "20")
        tips, rate = tips_for(analysis, target)

        note = None
        model = None
        try:
            resp = llm.complete(
                llm.Request(
                    model=None,
                    messages=[
                        llm.ChatMessage(role="system", content="You are a concise, friendly budgeting coach."),
                        llm.ChatMessage(role="user", content="In one sentence, encourage me given: " + " ".join(tips)),
                    ],
                    temperature=None,
                    max_tokens=None,
                )
            )
            note, model = resp.text, resp.model
        except Err as e:
            log.log(log.Level.WARN, f"llm unavailable, replying without a note: {e.value}")

        count = 1
        try:
            raw = kv.get(COUNT_KEY)
            count = (int(raw.decode()) if raw else 0) + 1
            kv.set(COUNT_KEY, str(count).encode())
        except Err as e:
            log.log(log.Level.WARN, f"could not update the advice count: {e.value}")

        payload = {
            "currency": analysis.get("currency"),
            "savings_rate_pct": rate,
            "target_savings_pct": target,
            "tips": tips,
            "coach_note": note,
            "model": model,
            "advice_count": count,
        }
        return [
            Message(
                id="",
                correlation_id=msg.correlation_id,
                topic="budget.tips",
                sender="",
                recipient=None,
                payload=json.dumps(payload),
                metadata=msg.metadata,
            )
        ]

"""The pure conversation engine: a survey definition, a response state and one normalised input
give the new state, the replies to send and the events to store. No asyncio, no database, no
platform types (docs/architecture.md).

Modules: ``types`` (inputs, state, replies, events), ``compile`` (a survey flattened into steps),
``steps`` (the public functions below), ``walk``, ``answers``, ``render`` and ``commands`` (how
one input is applied: what comes next, what an answer means, how it is shown, the commands),
``progress`` ("Câu n/total", a total that never grows),
``normalize`` (what citizens type), ``texts`` (the engine's messages), ``claim_texts`` (what
every channel says about invitation credentials and hand-overs).
"""

from engine.compile import CompiledStep, CompiledSurvey, answer_label, compile_survey
from engine.steps import current_replies, new_state, step, step_compiled

__all__ = ["new_state", "step", "current_replies", "compile_survey", "step_compiled", "answer_label",
           "CompiledSurvey", "CompiledStep"]

"""Control commands a citizen gives while answering: back, edit N, pause, resume, help, language,
review, submit, skip, stop.

A mixin of :class:`engine.walk._Run`. Why apart from the walk: a command moves the citizen
around answers already given (or changes how they are shown) without answering anything, so it
reads the trail and the hand-over's hidden steps rather than the relevance and end rules the walk
evaluates after an answer; kept here, each module stays small enough to read in one sitting.
"""

from __future__ import annotations

from engine import texts
from engine.normalize import SUBMIT_WORDS, answer_key
from engine.types import Command, Reply, StepResult


class _Commands:
    """Command handling of a run (see :class:`engine.walk._Run`, which mixes it in)."""

    __slots__ = ()

    def command(self, cmd: Command) -> StepResult:
        s = self.s
        name = cmd.name
        if name == "back":
            return self.back()
        if name == "pause":
            s.picks = []
            self.set_status("paused")
            self.info("paused")
            return self.result()
        if name == "resume":
            self.show_current()
            return self.result()
        if name == "help":
            self.info("help")
            self.show_current()
            return self.result()
        if name == "stop":
            return self.stop()
        if name == "lang":
            self.switch_lang(cmd.arg, announce=True)
            self.show_current()
            return self.result()
        if name == "review":
            if s.status == "review":
                self.review()
            else:
                self.review(so_far=True)
                self.show_current()
            return self.result()
        if name == "submit":
            if s.status == "review":
                s.picks = []
                self.set_status("submitted", "complete")
                self.replies.append(Reply("thanks", self.t("thanks")))
                return self.result()
            self.info("submit_not_ready", kind="invalid")
            self.show_current()
            return self.result()
        if name == "edit":
            return self.edit(cmd.arg)
        if name == "skip":
            sp = self.cur()
            if s.status != "active" or sp is None:
                self.info("review_hint", kind="invalid")
                self.review()
                return self.result()
            if sp.required:
                self.info("skip_required", kind="invalid")
                self.ask(sp)
                return self.result()
            return self.skip(sp)
        self.info("help")
        self.show_current()
        return self.result()

    def switch_lang(self, arg: str | None, announce: bool) -> bool:
        s = self.s
        avail = [x for x in self.c.languages if x in texts.LANGS]
        if arg is None:
            others = [x for x in avail if x != s.lang]
            arg = others[0] if others else s.lang
        arg = str(arg).strip().lower()[:8]
        if arg not in avail:
            if announce:
                self.info("lang_unavailable", langs=", ".join(avail))
            return False
        s.lang = arg
        if announce:
            self.info("lang_changed")
        return True

    def can_back(self) -> bool:
        """Whether "back" has somewhere to go: a previous step this chat may see."""
        trail = self.s.trail
        return bool(trail) and not (self.s.hidden and trail[-1] in self.s.hidden)

    def back(self) -> StepResult:
        s = self.s
        if not s.trail:
            self.info("back_first")
            self.show_current()
            return self.result()
        if not self.can_back():
            self.info("back_handover")
            self.show_current()
            return self.result()
        prev = s.trail.pop()
        sp = self.c.by_id.get(prev)
        if sp is None:
            return self.goto_frontier()
        s.current = prev
        self.set_status("active")
        ans = s.answers.get(prev)
        s.picks = list(ans) if sp.type == "multi" and isinstance(ans, list) else []
        self.ask(sp)
        return self.result()

    def edit(self, arg: str | None) -> StepResult:
        s = self.s
        target: str | None = None
        a = (arg or "").strip()
        if a.isdigit():
            n = int(a)
            if 1 <= n <= len(s.trail):
                target = s.trail[n - 1]
        elif a:
            low = a.casefold()
            for sid in s.trail:
                if sid.casefold() == low:
                    target = sid
                    break
        if target is None:
            if s.current is not None and a.casefold() == s.current.casefold():
                self.show_current()
                return self.result()
            self.info("edit_unknown", arg=a[:40])
            self.show_current()
            return self.result()
        if s.hidden and target in s.hidden:
            self.info("edit_handover")
            self.show_current()
            return self.result()
        pos = s.trail.index(target)
        s.trail = s.trail[:pos]
        s.current = target
        self.set_status("active")
        sp = self.c.by_id[target]
        ans = s.answers.get(target)
        s.picks = list(ans) if sp.type == "multi" and isinstance(ans, list) else []
        self.ask(sp)
        return self.result()

    def review_text(self, text: str) -> StepResult:
        key = answer_key(text[:200]) if isinstance(text, str) else ""
        if key in SUBMIT_WORDS:
            return self.command(Command("submit"))
        if key.isdigit():
            return self.edit(key)
        self.info("review_hint", kind="invalid")
        self.review()
        return self.result()

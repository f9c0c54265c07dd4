"""What a citizen is sent: a question with its progress, options and buttons; the "is that
right?" of a screening answer; the review, one message per questionnaire section.

A mixin of :class:`engine.walk._Run` (the methods use the run's state and append to its
replies). Why apart from the walk: how a message reads and which buttons it carries changes for
reasons of its own (wording, phone screens, Telegram's message limit) that have nothing to do
with which step comes next; the walk decides *what* to ask, this module *how it is shown*. The
renderings that do not depend on the answers (question body, button rows, progress heads,
review labels) are cached on the compiled survey (``engine/compile.py``).
"""

from __future__ import annotations

from engine import texts
from engine.answers import _MISSING
from engine.compile import CompiledStep, label_of
from engine.types import Action, AnswerMeta, Command, Done, Option as ROption, Reply
from survey_defs.i18n import text_in

#: Longest review message; a longer review is split over several replies (Telegram allows 4096).
REVIEW_CHUNK = 3500


class _Render:
    """Rendering of a run (see :class:`engine.walk._Run`, which mixes it in)."""

    __slots__ = ()

    def progress(self, sp: CompiledStep | None) -> tuple[int, int]:
        """(n, total) for "Câu n/total": a total that never grows answering forward (engine/progress.py)."""
        c = self.c
        return c.progress.count(self.s.answers, sp.idx if sp is not None else len(c.steps))

    def body(self, sp: CompiledStep, short: bool) -> tuple[str, tuple[ROption, ...]]:
        lang = self.s.lang
        buttons = self.buttons
        key = (lang if buttons else lang + ":typed", short)
        cached = sp._render.get(key)
        if cached is not None:
            return cached
        q = sp.question
        lines = []
        if sp.item is not None:
            if not short:
                lines.append(text_in(q.text, lang))
            lines.append(text_in(sp.item.text, lang))
        else:
            lines.append(text_in(q.text, lang))
        if q.help and not short:
            lines.append(text_in(q.help, lang))
        if sp.type == "multi":
            typed = "" if buttons else "_typed"     # "bấm «Xong»" only where there is a Xong button
            if q.min_picks is not None or q.max_picks is not None:
                lines.append(texts.t("multi_hint_range" + typed, lang, self.c.messages, min=sp.min_picks,
                                     max=sp.max_picks))
            else:
                lines.append(texts.t("multi_hint" + typed, lang, self.c.messages))
        elif sp.type == "number" and not q.help:
            if q.min is not None and q.max is not None:
                lines.append(texts.t("number_hint_range", lang, self.c.messages, min=q.min, max=q.max))
            else:
                lines.append(texts.t("number_hint", lang, self.c.messages))
        if not sp.required:
            lines.append(texts.t("optional_hint", lang, self.c.messages))
        opts = tuple(ROption(value=v, label=text_in(lab, lang)) for v, lab in zip(sp.values, sp.labels))
        out = ("\n".join(x for x in lines if x), opts)
        sp._render[key] = out
        return out

    def ask(self, sp: CompiledStep) -> None:
        """Send ``sp`` (progress, text, current answer, options, buttons) and note when it was asked."""
        s = self.s
        c = self.c
        trail = s.trail
        lang = s.lang
        answers = s.answers
        # Inside a matrix, repeat the stem only on the first item asked in a row.
        short = False
        if sp.item is not None and trail:
            prev = c.by_id.get(trail[-1])
            short = prev is not None and prev.qid == sp.qid
        cached = sp._render.get((lang if self.buttons else lang + ":typed", short))
        body, opts = cached if cached is not None else self.body(sp, short)
        n, total = c.progress.count(answers, sp.idx)
        heads = c.heads
        hkey = (lang, n, total)
        head = heads.get(hkey)
        if head is None:
            if len(heads) > 4096:
                heads.clear()
            head = heads[hkey] = self.t("progress", n=n, total=total) + "\n"
        text = head + body
        current = _MISSING if s.hidden and sp.id in s.hidden else answers.get(sp.id, _MISSING)
        multi = sp.type == "multi"
        if multi:
            picked = set(s.picks)
            opts = tuple(ROption(o.value, o.label, o.value in picked) for o in opts)
        elif current is not _MISSING:
            if opts:
                opts = tuple(ROption(o.value, o.label, o.value == current) for o in opts)
        if current is not _MISSING:
            text += "\n" + self.t("current_answer", answer=label_of(sp, current, lang))
        can_back = bool(trail) and not (s.hidden and trail[-1] in s.hidden)     # as can_back()
        akey = (lang, can_back)
        actions = sp._actions.get(akey)
        if actions is None:
            acts: list[Action] = []
            if multi:
                acts.append(Action(self.t("btn_done"), Done(sp.id)))
            if not sp.required:
                acts.append(Action(self.t("btn_skip"), Command("skip")))
            if can_back:
                acts.append(Action(self.t("btn_back"), Command("back")))
            actions = sp._actions[akey] = tuple(acts)
        s.seq += 1
        meta = s.meta
        m = meta.get(sp.id)
        if m is None:
            meta[sp.id] = AnswerMeta(self.now)
        elif m.asked_at is None:
            meta[sp.id] = AnswerMeta(self.now, m.answered_at, m.changes)
        self.replies.append(Reply("question", text, sp.id, opts, actions, (n, total), multi, s.seq))

    def update_multi(self, sp: CompiledStep) -> None:
        """Re-send the checkbox list after a toggle (same seq: channels edit it in place)."""
        s = self.s
        before = s.seq
        self.ask(sp)
        s.seq = before
        r = self.replies[-1]
        self.replies[-1] = Reply(kind=r.kind, text=r.text, step_id=r.step_id, options=r.options,
                                 actions=r.actions, progress=r.progress, multi=True, seq=before)

    def show_confirm(self, sp: CompiledStep) -> None:
        s = self.s
        answer = label_of(sp, s.picks[0], s.lang)
        q = text_in(sp.item.text if sp.item is not None else sp.question.text, s.lang).replace("\n", " ")
        if len(q) > 80:
            q = q[:79].rstrip() + "…"
        s.seq += 1
        actions = (Action(self.t("btn_confirm_yes"), Command("resume")), Action(self.t("btn_confirm_no"), Command("back")))
        self.replies.append(Reply(kind="question", text=self.t("confirm_end", question=q, answer=answer),
                                  step_id=sp.id, actions=actions, seq=s.seq))

    def show_current(self) -> None:
        sp = self.cur()
        if sp is not None and self.s.status == "active":
            if self.s.picks and sp.type != "multi":
                self.show_confirm(sp)
            else:
                self.ask(sp)
        else:
            self.review()

    def review_lines(self) -> list[str]:
        """The numbered answer lines of the review, in trail order (``edit N`` uses the numbers)."""
        return [line for _, lines in self.review_sections() for line in lines]

    def review_sections(self) -> list[tuple[str, list[str]]]:
        """The review's lines grouped by questionnaire section: (section title, lines)."""
        s = self.s
        lang = s.lang
        by_id = self.c.by_id
        answers = s.answers
        hidden = s.hidden
        skipped = elsewhere = ""     # looked up once, on first use
        groups: list[tuple[str, list[str]]] = []
        lines: list[str] = []
        last_section: object = None
        for n, sid in enumerate(s.trail, 1):
            sp = by_id.get(sid)
            if sp is None:
                continue
            q = sp._review.get(lang)
            if q is None:
                q = text_in(sp.item.text if sp.item is not None else sp.question.text, lang).replace("\n", " ")
                if len(q) > 48:
                    q = q[:47].rstrip() + "…"
                sp._review[lang] = q
            if hidden and sid in hidden:
                a = elsewhere = elsewhere or self.t("answered_elsewhere")
            else:
                v = answers.get(sid, _MISSING)
                if v is _MISSING:
                    a = skipped = skipped or self.t("skipped")
                else:
                    a = label_of(sp, v, lang)
                    if len(a) > 120:
                        a = a[:119] + "…"
            if sp.section is not last_section:
                last_section = sp.section
                lines = []
                groups.append((text_in(sp.section.title, lang) if sp.section.title else "", lines))
            lines.append(f"{n}. {q}: {a}")
        return groups

    def review(self, so_far: bool = False) -> None:
        """The answers, one message per questionnaire section ("Phần 2/5 · title"), each split
        under REVIEW_CHUNK; the head opens the first, the foot and the buttons close the last.

        Why by section: a whole questionnaire in one message is some 90 lines a citizen cannot
        check on a phone; a section is a screen, titled as in the questionnaire.
        """
        sections = self.review_sections()
        head = self.t("review_so_far" if so_far else "review_head")
        foot = "" if so_far else self.t("review_foot")
        chunks: list[str] = []
        if not sections:
            chunks.append(head + "\n" + self.t("review_empty"))
        for k, (title, lines) in enumerate(sections, 1):
            part = self.t("review_section", k=k, total=len(sections), title=title).rstrip(" ·:")
            cur = [(head + "\n\n" if k == 1 else "") + part]     # joined by "\n" into one message
            size = len(cur[0])
            for line in lines:
                if size + len(line) + 1 > REVIEW_CHUNK:
                    chunks.append("\n".join(cur))
                    cur = [part + " " + self.t("review_more")]
                    size = len(cur[0])
                cur.append(line)
                size += len(line) + 1
            chunks.append("\n".join(cur))
        if foot:
            if len(chunks[-1]) + len(foot) + 2 > REVIEW_CHUNK:
                chunks.append(foot)
            else:
                chunks[-1] += "\n\n" + foot
        actions: tuple[Action, ...] = ()
        if not so_far:
            acts = [Action(self.t("btn_submit"), Command("submit"))]
            if self.can_back():
                acts.append(Action(self.t("btn_back"), Command("back")))
            actions = tuple(acts)
        kind = "info" if so_far else "review"
        for i, ch in enumerate(chunks):
            last = i == len(chunks) - 1
            self.replies.append(Reply(kind=kind, text=ch, actions=actions if last else ()))  # type: ignore[arg-type]

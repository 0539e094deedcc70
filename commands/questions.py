"""What a question asks: yes/no detection, reading a label out of an answer, and the per-record form.

Yes/no detection decides when a command (and the demo: one rule for both) adds the calibrated probability of the
perplexity classifier (``--confidence auto``). A question is yes/no when it says so ("yes or no", "yes/no") or when
one of its sentences that ends in "?" opens with an auxiliary verb ("Is ...?", "Does ...?", "Can ...?", "Am I right
...?") and offers no alternatives: "Is @x a promoter or an enhancer?" is a choice, and so is a question followed by
a list to pick from ("Answer with one of: promoter, Non-promoter.", "Options: Oct4, Mafk.").
"""

import re

CONFIDENCE_MODES = ("auto", "always", "never")
# The question `chatnt compare` asks when given none: yes/no, so a calibrated probability comes with it.
COMPARE_QUESTION = (
    "Here is a reference DNA sequence, @ref, and the same region carrying a variant, @alt. "
    "Does the variant change the function of the sequence? Answer yes or no."
)

YES_NO_OPENERS = frozenset(
    "is are was were am does do did can could has have had would will should shall may might must".split()
)
_SAYS_YES_NO = re.compile(r"\byes\s*(?:or|/)\s*no\b|\bno\s*(?:or|/)\s*yes\b", re.IGNORECASE)
# Sentences end at . ? ! followed by a space, so dots and colons inside tags (@chr4:1-200, @x.fa) stay.
_SENTENCE = re.compile(r"[^.?!]*(?:[.?!]+(?=\s|$)|$)")
_ALTERNATIVE = re.compile(r"\bor\b|\beither\b|\bwhich\b", re.IGNORECASE)
_YES_NO_WORD = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
# A list of answers to pick from, anywhere in the question.
_OFFERS_CHOICES = re.compile(r"\bone of(?: the following)?\s*:|\bone of the following\b|\boptions?\s*:", re.IGNORECASE)


def is_yes_no_question(question: str) -> bool:
    """Whether ``question`` asks for a yes or a no (see the module docstring for the rule).

    Example:
        >>> is_yes_no_question("Is @seq1 a promoter?"), is_yes_no_question("Which factor binds @x? Oct4 or Mafk?")
        (True, False)
    """
    from ..processing_chatnt import TAG  # here, not at the top: `chatnt --help` must not wait for transformers

    if _SAYS_YES_NO.search(question):
        return True
    if _OFFERS_CHOICES.search(question):
        return False
    for sentence in _SENTENCE.findall(question):
        sentence = sentence.strip()
        if not sentence.endswith("?"):
            continue
        words = re.findall(r"[A-Za-z']+", TAG.sub(" ", sentence))
        if words and words[0].lower() in YES_NO_OPENERS and not _ALTERNATIVE.search(sentence):
            return True
    return False


def wants_confidence(question: str, mode: str) -> bool:
    """Whether to add the classifier's probability: ``always``, ``never``, or ``auto`` (yes/no questions only)."""
    if mode not in CONFIDENCE_MODES:
        raise ValueError(f"--confidence must be one of {', '.join(CONFIDENCE_MODES)}, got {mode!r}.")
    return mode == "always" or (mode == "auto" and is_yes_no_question(question))


# What an answer may say before the answer proper (chatnt-mini's training phrasings: "The answer is X.",
# "This sequence is classified as X."); an answer holding nothing else says nothing.
_PREAMBLE = re.compile(
    r"^\W*(?:(?:the|my)\s+answer\s+is|answer\s*:|this\s+sequence\s+is\s+classified\s+as)", re.IGNORECASE
)


def is_empty_answer(answer: str) -> bool:
    """Whether an answer says nothing: empty, or only a preamble and punctuation ("The answer is  .").

    Example:
        >>> is_empty_answer("The answer is  ."), is_empty_answer("The answer is no.")
        (True, False)
    """
    return not re.search(r"[^\W_]", _PREAMBLE.sub("", answer))


def shown_answer(answer: str) -> str:
    """An answer as a person should see it: as generated, or, when it says nothing, a note that says so.

    Example:
        >>> shown_answer("No."), shown_answer(""), shown_answer("The answer is  .")
        ('No.', '(no answer)', '(no answer: "The answer is  .")')
    """
    if not answer:
        return "(no answer)"
    return f'(no answer: "{answer}")' if is_empty_answer(answer) else answer


def parse_yes_no(answer: str) -> str | None:
    """``"yes"`` or ``"no"`` as an answer states it, ``None`` when it says neither or both.

    An answer that opens with yes or no is that ("No, it is not bound"); otherwise the one of the two
    words it uses, if it uses only one ("My answer is yes.").
    """
    words = [word.lower() for word in _YES_NO_WORD.findall(answer)]
    opening = re.match(r"\W*(yes|no)\b", answer, re.IGNORECASE)
    if opening:
        return opening.group(1).lower()
    return words[0] if words and len(set(words)) == 1 else None


def task_parser(task: str | None):
    """A function ``answer -> parsed text`` for the registry task ``task`` (labels, label sets or numbers).

    Raises:
        ValueError: no task of that name (the message lists close names and all tasks).
    """
    if task is None:
        return None
    from ..tasks.answer_parsing import parse_answer
    from ..tasks.registry import get_task

    try:
        spec = get_task(task)
    except KeyError as error:
        raise ValueError(f"--task: {error.args[0]}") from None

    def parse(answer: str) -> str:
        value = parse_answer(answer, spec)
        if value is None:
            return ""
        if isinstance(value, tuple):
            return ";".join(value) or "none"
        return f"{value:g}" if isinstance(value, float) else str(value)

    return parse


def parsed_answer(answer: str, question: str, task_parse=None) -> str:
    """The label or value an answer gives: the task's parser if given, yes/no for yes/no questions, else ``""``."""
    if task_parse is not None:
        return task_parse(answer)
    if is_yes_no_question(question):
        return parse_yes_no(answer) or ""
    return ""


def record_question_template(question: str) -> tuple[str, int]:
    """A question that refers to ONE record, rewritten with ``<DNA>`` where the record goes.

    ``chatnt predict`` asks the same question about every record. The question names the record either
    as ``<DNA>`` or by any single ``@tag`` (``@seq``, ``@record``, ...), possibly several times.

    Returns:
        ``(template, placeholders)``: the question with each reference turned into ``<DNA>``, and how many
        there are (the record is passed that many times).

    Raises:
        ValueError: the question refers to no sequence, to two different tags, or mixes ``<DNA>`` and a tag.
    """
    from ..processing_chatnt import DNA_TOKEN, TAG, TAG_TRAILING

    tags = {match.group(1).rstrip(TAG_TRAILING) for match in TAG.finditer(question)}
    placeholders = question.count(DNA_TOKEN)
    if len(tags) > 1:
        raise ValueError(
            f"the question names {len(tags)} sequences ({', '.join('@' + t for t in sorted(tags))}) but predict asks "
            "about one record at a time: refer to it with a single @tag (e.g. @seq) or <DNA>."
        )
    if tags and placeholders:
        raise ValueError("the question mixes <DNA> and an @tag; refer to the record one way, e.g. @seq or <DNA>.")
    if not tags and not placeholders:
        raise ValueError(
            'the question does not refer to the record: write <DNA> or @seq where the sequence goes, e.g. '
            '"Is @seq a promoter? Answer yes or no."'
        )
    if tags:
        (tag,) = tags

        def to_placeholder(match):
            name = match.group(1)
            trailing = name[len(name.rstrip(TAG_TRAILING)) :]  # sentence punctuation after the tag stays
            return DNA_TOKEN + trailing

        question = TAG.sub(to_placeholder, question)
        placeholders = question.count(DNA_TOKEN)
    return question, placeholders


__all__ = [
    "COMPARE_QUESTION",
    "CONFIDENCE_MODES",
    "is_empty_answer",
    "is_yes_no_question",
    "parse_yes_no",
    "parsed_answer",
    "record_question_template",
    "shown_answer",
    "task_parser",
    "wants_confidence",
]

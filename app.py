"""ChatNT in the browser: a Gradio demo (and Hugging Face Space) for questions about your own DNA.

Run it::

    python app.py --port 7860                      # the shipped checkpoints/chatnt-mini
    CHATNT_MODEL=path/to/chatnt python app.py      # or --model path/to/chatnt

Attach FASTA files (.fa, .fasta, .fna, .txt, optionally gzipped) with the paperclip and ask about
their records by ``@record_id``, or write ``<DNA>`` for the records of the files attached to the same
message, in order. Several sequences may be used in one question, and earlier turns stay in the
conversation. Yes/no questions get the model's calibrated probability (``chatnt.classify``); other
answers get the probability of their first token. Beside the chat, a gradient x input track shows
which bases the last answer's first token rests on.

Sequences come only from the files uploaded in this browser session: a reference is never opened as
a path, and text that looks like a path (``/etc/hosts``, ``@../../x.fa``) is refused.

The answer logic is plain Python (:class:`ChatNTDemo`, :func:`read_upload`, :func:`resolve_references`,
...), testable without a browser; :func:`build_demo` only wires it into Gradio.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import gzip
import importlib.util
import io
import logging
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent
DEFAULT_MODEL = REPO_ROOT / "checkpoints" / "chatnt-mini"
EXAMPLE_FASTA = REPO_ROOT / "spaces" / "example.fa"

# Per uploaded file (compressed and uncompressed alike, so a small .gz cannot unpack into gigabytes).
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
# DNA sequences one conversation may hold: every turn re-reads them all, so this bounds each turn's work.
MAX_SEQUENCES_PER_CONVERSATION = 8
# Characters of one typed message: a question is a sentence or two; the decoder reads every character of every turn
# again on each turn, and a 60,000-character message held the only worker for minutes.
MAX_MESSAGE_CHARS = 2000
UPLOAD_SUFFIXES = (".fa", ".fasta", ".fna", ".txt")
DNA_PLACEHOLDER = "<DNA>"

# Words that look like file-system paths or URLs to files: /etc/hosts, ~/x.fa, ../data, C:\x, file://...
_PATH_WORD = re.compile(r"(?<![^\s(\"`])(?:file://|~[/\\]|\.{1,2}[/\\]|/(?=[\w.~-])|[A-Za-z]:[/\\])\S*")


def ensure_chatnt_importable() -> None:
    """Makes ``import chatnt`` work where the repository is present but not pip-installed (a Space).

    The repository root is the package ``chatnt`` (``setup.py`` maps it); without the installation it is
    loaded from here under that name, subpackages (``chatnt.evaluation``) included.
    """
    if importlib.util.find_spec("chatnt") is not None:
        return
    spec = importlib.util.spec_from_file_location(
        "chatnt", REPO_ROOT / "__init__.py", submodule_search_locations=[str(REPO_ROOT)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["chatnt"] = module
    spec.loader.exec_module(module)


ensure_chatnt_importable()
# ``@name`` as the processor reads it (not preceded by a word character, so e-mail addresses are not tags).
from chatnt.commands.questions import is_yes_no_question, shown_answer  # noqa: E402  (one yes/no rule: the CLI's)
from chatnt.inference import classify, generate  # noqa: E402
from chatnt.processing_chatnt import TAG as _TAG, split_tag  # noqa: E402
from chatnt.tokenization_nucleotide_transformer import IUPAC_AMBIGUITY_CODES  # noqa: E402  (importable only after the line above, on a Space)


class DemoInputError(ValueError):
    """Bad input from the demo's user: the message says what is wrong and what to do instead."""


@dataclass
class Exchange:
    """One question and its reply. ``question`` is what the model reads (``<DNA>`` already turned into
    ``@id`` tags); ``None`` for a refused message, which stays out of the model's conversation."""

    question: str | None
    answer: str


@dataclass
class SessionState:
    """What one browser session has given the demo: its uploaded records and its conversation.

    Attributes:
        records: ``{record id: sequence}`` of every record uploaded in this session, in upload order:
            the only sequences a question can refer to.
        sources: ``{record id: file name}`` of the upload each record came from (for messages).
        exchanges: the turns so far, refused ones included (they match the chat's assistant messages).
    """

    records: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)

    def conversation(self) -> list[dict]:
        """The answered turns as chat messages, for the model."""
        messages = []
        for exchange in self.exchanges:
            if exchange.question is not None:
                messages += [{"role": "user", "content": exchange.question}, {"role": "assistant", "content": exchange.answer}]
        return messages


@dataclass
class Reply:
    """The demo's answer to one message.

    Attributes:
        text: Markdown for the chat: the answer and its confidence, or why the message was refused.
        answer: the model's answer alone (``None`` when refused).
        confidence: for yes/no questions ``chatnt.classify``'s dict (``label``, ``probability``,
            ``p_positive``, ``calibrated``); for other answers ``{"first_token_probability": p}``.
        attribution: the :class:`~chatnt.evaluation.attribution.AnswerAttribution` of the answer, when asked for.
        plot: the attribution tracks of every sequence of the question, stacked (a PIL image), or ``None``.
        attribution_error: why the attribution could not be computed (the answer stands without it).
    """

    text: str
    answer: str | None = None
    confidence: dict | None = None
    attribution: object | None = None
    plot: object | None = None
    attribution_error: str | None = None


def _known_names(records: dict[str, str], limit: int = 10) -> str:
    names = ", ".join("@" + name for name in list(records)[:limit])
    return names + (", ..." if len(records) > limit else "")


def read_upload(path: str | os.PathLike, max_bytes: int = MAX_UPLOAD_BYTES) -> dict[str, str]:
    """The records of one uploaded FASTA file (plain or gzip), as ``{id: sequence}``.

    Args:
        path: the file as the upload handler stored it; its name must end in .fa, .fasta, .fna or .txt
            (optionally followed by .gz).
        max_bytes: largest file, compressed and uncompressed.

    Raises:
        DemoInputError: wrong file type, too large, or not a valid FASTA file (empty, no ``>`` header,
            duplicate ids, a record without sequence), with the file's name and the fix.
    """
    from chatnt.fasta import iter_fasta

    name = Path(path).name
    plain_name = name[:-3] if name.lower().endswith(".gz") else name
    if not plain_name.lower().endswith(UPLOAD_SUFFIXES):
        raise DemoInputError(
            f"{name}: not a FASTA upload. Attach a file ending in {', '.join(UPLOAD_SUFFIXES)} (optionally .gz)."
        )
    size = os.path.getsize(path)
    limit_text = f"{max_bytes / 1024 / 1024:g} MB"
    if size > max_bytes:
        raise DemoInputError(
            f"{name} is {size / 1024 / 1024:.1f} MB, over the demo's upload limit of {limit_text}. "
            "Upload only the records you want to ask about."
        )
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:2] == b"\x1f\x8b":
        with gzip.open(io.BytesIO(data)) as unpacked:
            data = unpacked.read(max_bytes + 1)  # never more than the limit, whatever the file claims
        if len(data) > max_bytes:
            raise DemoInputError(
                f"{name} unpacks to more than the demo's upload limit of {limit_text}. "
                "Upload only the records you want to ask about."
            )
    try:  # bytes: iter_fasta decodes each line strictly and names the line with bytes that are not UTF-8
        return {record.id: record.sequence for record in iter_fasta(io.BytesIO(data), name=name)}
    except ValueError as error:
        raise DemoInputError(str(error)) from None


def longest_readable(processor) -> int:
    """Bases of the longest plain ACGT sequence the model reads (encoders differ in bases per token)."""
    return len(processor.readable_start("ACGT" * 2 * processor.max_dna_tokens))


def check_sequence(processor, record_id: str, sequence: str, file_name: str) -> None:
    """Refuses a record the model cannot read: not DNA/RNA, or longer than the model's DNA limit.

    Raises:
        DemoInputError: naming the record, its file, and the fix.
    """
    try:
        tokens = len(processor.dna_token_ids(sequence))
    except ValueError as error:
        codes = set(sequence.upper()) - set("ACGTUN")
        if codes and codes <= set(IUPAC_AMBIGUITY_CODES):  # the library's fix (an argument) is not the demo's
            raise DemoInputError(
                f"{file_name}, record {record_id} holds IUPAC ambiguity codes ({', '.join(sorted(codes))}); the demo "
                "reads A, C, G, T, U and N. Replace the codes with N in the file (e.g. "
                "`sed '/^>/!s/[RYSWKMBDHVryswkmbdhv]/N/g' in.fa > out.fa`) and upload it again."
            ) from None
        raise DemoInputError(f"{file_name}, record {record_id}: {error}") from None
    limit = processor.max_dna_tokens
    if tokens > limit:
        raise DemoInputError(
            f"{file_name}, record {record_id} has {len(sequence):,} bp = {tokens:,} DNA tokens, more than the "
            f"model's limit of {limit:,} tokens (about {len(processor.readable_start(sequence)):,} bp). Upload a shorter "
            "window of it."
        )


def add_uploads(state: SessionState, paths, processor, max_bytes: int = MAX_UPLOAD_BYTES) -> list[str]:
    """Reads the files attached to a message into the session's records.

    Every file is checked before any record is added, so a refused message adds nothing. Uploading a
    record again with the same sequence is allowed (a retried message re-sends its files).

    Args:
        state: the session; its ``records`` and ``sources`` grow.
        paths: the attached files' paths, as the upload handler stored them.
        processor: the model's processor (for the DNA alphabet and length limit).
        max_bytes: largest file.

    Returns:
        The ids of the attached files' records, in file order (what ``<DNA>`` placeholders take).

    Raises:
        DemoInputError: a bad file or record, or a record id already uploaded with another sequence.
    """
    incoming: dict[str, str] = {}
    origin: dict[str, str] = {}
    for path in paths or []:
        name = Path(path).name
        for record_id, sequence in read_upload(path, max_bytes).items():
            earlier_source = origin.get(record_id) or state.sources.get(record_id)
            earlier = incoming.get(record_id, state.records.get(record_id))
            if earlier is not None and earlier.upper() != sequence.upper():
                raise DemoInputError(
                    f"{name}: record id {record_id} is already used by a different sequence from {earlier_source}. "
                    "Record ids must be unique in a session so that @id names one sequence: rename the record, "
                    "or press the chat's clear button to start over."
                )
            if not _TAG.fullmatch("@" + record_id):
                raise DemoInputError(
                    f"{name}: record id {record_id!r} cannot be written as an @tag (@ids stop at spaces and at any of "
                    """, ; ! ? ( ) [ ] { } ' " ` < >). Rename the record in the FASTA header."""
                )
            check_sequence(processor, record_id, sequence, name)
            incoming[record_id] = sequence
            origin[record_id] = name
    for record_id, sequence in incoming.items():
        state.records.setdefault(record_id, sequence)
        state.sources.setdefault(record_id, origin[record_id])
    return list(incoming)


def resolve_references(text: str, attached_ids: list[str], state: SessionState) -> tuple[str, list[str]]:
    """The question as the model reads it, with every sequence reference checked against the session.

    ``@id`` must name a record uploaded in this session; ``<DNA>`` placeholders take the records of the
    files attached to this message, in order, and are rewritten as their ``@id`` tags (so later turns
    keep pointing at the same sequences). Nothing here ever opens a file: anything that looks like a
    path, in a tag or in the text, is refused.

    Args:
        text: the user's message.
        attached_ids: record ids of the files attached to this message (:func:`add_uploads`).
        state: the session (its records are the only valid references).

    Returns:
        ``(question for the model, record ids it refers to in order)``.

    Raises:
        DemoInputError: a path, an unknown ``@id``, ``<DNA>`` without (or with a different number of)
            attached records, or ``<DNA>`` and ``@id`` mixed.
    """
    upload_hint = "upload the FASTA file with the paperclip button and refer to its records as @record_id"
    for match in _TAG.finditer(text):
        tag = match.group(1)
        if split_tag(tag, state.records) is None and (re.search(r"[/\\]", tag) or tag.startswith((".", "~"))):
            raise DemoInputError(
                f"@{tag} looks like a file path. The demo reads sequences only from files you upload in this "
                f"session, never from paths: {upload_hint}."
            )
    path_word = _PATH_WORD.search(re.sub(_TAG, " ", text))
    if path_word:
        raise DemoInputError(
            f"{path_word.group(0)!r} looks like a file path. The demo never opens paths written in a message: "
            f"{upload_hint}."
        )

    tags = list(_TAG.finditer(text))
    placeholders = text.count(DNA_PLACEHOLDER)
    if tags and placeholders:
        raise DemoInputError(f"The question mixes {DNA_PLACEHOLDER} and @id references; use one style per question.")
    if placeholders:
        if not attached_ids:
            raise DemoInputError(
                f"{DNA_PLACEHOLDER} stands for the records of the FASTA attached to the same message, and none is "
                f"attached. Attach the file, or refer to uploaded records by name"
                + (f" ({_known_names(state.records)})." if state.records else ".")
            )
        if placeholders != len(attached_ids):
            raise DemoInputError(
                f"The question holds {placeholders} {DNA_PLACEHOLDER} placeholder(s) but the attached file(s) hold "
                f"{len(attached_ids)} record(s) ({_known_names(dict.fromkeys(attached_ids))}). Use one "
                f"{DNA_PLACEHOLDER} per record, or refer to records by @id."
            )
        names = iter(attached_ids)
        return re.sub(re.escape(DNA_PLACEHOLDER), lambda _: "@" + next(names), text), list(attached_ids)

    used = []
    for match in tags:
        found = split_tag(match.group(1), state.records)
        if found is None:
            if not state.records:
                raise DemoInputError(
                    f"Unknown sequence reference @{match.group(1)}: no FASTA file has been uploaded in this session. "
                    "Attach one with the paperclip button, then refer to its records as @record_id."
                )
            close = difflib.get_close_matches(match.group(1).rstrip(".:"), list(state.records), n=3)
            hint = f" Did you mean {', '.join('@' + name for name in close)}?" if close else ""
            raise DemoInputError(
                f"Unknown sequence reference @{match.group(1)}. Your uploaded records: "
                f"{_known_names(state.records)}.{hint}"
            )
        used.append(found[0])
    return text, used


def _first_text_token(tokenizer, token_ids: list[int]) -> int:
    # A leading space or newline token ("ASSISTANT:" + " " + "Yes") says nothing about the answer.
    special = set(tokenizer.all_special_ids)
    for index, token_id in enumerate(token_ids):
        if token_id in special or tokenizer.decode([token_id]).strip():
            return index
    return 0


def stack_images(images):
    """One image with ``images`` (PIL) one under the other, on white, left-aligned."""
    from PIL import Image

    width = max(image.width for image in images)
    stacked = Image.new("RGB", (width, sum(image.height for image in images)), "white")
    top = 0
    for image in images:
        stacked.paste(image, (0, top))
        top += image.height
    return stacked


class ChatNTDemo:
    """The demo's answer logic around one loaded ChatNT model (no Gradio here).

    Args:
        model: a :class:`~chatnt.ChatNTForConditionalGeneration`.
        processor: its :class:`~chatnt.ChatNTProcessor`.
        bf16: bfloat16 autocast on a CPU (about twice as fast for the SmolLM2 decoder; slightly noisier).
        max_new_tokens: longest answer.
        max_upload_bytes: largest uploaded file.
    """

    def __init__(self, model, processor, *, bf16: bool = False, max_new_tokens: int = 64,
                 max_upload_bytes: int = MAX_UPLOAD_BYTES):
        self.model = model.eval()
        self.processor = processor
        self.bf16 = bf16
        self.max_new_tokens = max_new_tokens
        self.max_upload_bytes = max_upload_bytes

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, trust_remote_code: bool = False, **kwargs) -> "ChatNTDemo":
        """Loads a saved ChatNT (directory or Hub id) once, with its decoder resolved for this machine;
        ``trust_remote_code`` runs code saved with it (a remote-code DNA encoder or tokenizer)."""
        from chatnt.modeling_chatnt import ChatNTForConditionalGeneration
        from chatnt.processing_chatnt import ChatNTProcessor

        path = str(path)
        model = ChatNTForConditionalGeneration.from_pretrained(path, trust_remote_code=trust_remote_code)
        return cls(model, ChatNTProcessor.from_pretrained(path, trust_remote_code=trust_remote_code), **kwargs)

    def _autocast(self):
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16 and self.model.device.type == "cpu")

    def generate(self, conversation: list[dict], sequences: dict[str, str]):
        """Greedy answer to the conversation's last user turn, the probability of its first word's token, and the
        prompt's state, from which the classifier continues instead of encoding the prompt again."""
        import torch

        inputs = self.processor(conversation, sequences)
        inputs.pop("labels", None)  # earlier assistant turns get training labels; generation needs none
        inputs = {key: value.to(self.model.device) for key, value in inputs.items()}
        with torch.no_grad(), self._autocast():
            output, prompt_state = generate(
                self.model, inputs, keep_prompt_state=True, max_new_tokens=self.max_new_tokens, do_sample=False,
                output_scores=True,
            )
        new_ids = output.sequences[0, inputs["input_ids"].shape[1]:].tolist()
        if not new_ids:
            return "", 0.0, prompt_state
        first = _first_text_token(self.processor.tokenizer, new_ids)
        probability = torch.softmax(output.scores[first][0].float(), dim=-1)[new_ids[first]].item()
        return self.processor.decode(new_ids, skip_special_tokens=True).strip(), probability, prompt_state

    def attribution_plot(self, conversation: list[dict], sequences: dict[str, str], last: int | None = None):
        """Gradient x input of the answer's first token over each sequence, and the stacked track plots.

        The greedy answer is regenerated (deterministic, a few tokens) rather than passed in, because
        with earlier assistant turns in the conversation only the generation path marks the new answer.

        Args:
            conversation: the chat messages, ending with the user's question.
            sequences: ``{record id: sequence}`` the conversation's tags name.
            last: plot only the last ``last`` sequence uses (the question's own, not earlier turns'
                copies); ``None`` plots all.

        Returns:
            ``(AnswerAttribution with the plotted sequences, stacked PIL image)``.
        """
        from PIL import Image

        from chatnt.evaluation.attribution import attribute
        from chatnt.evaluation.plots import attribution_track

        result = attribute(self.model, self.processor, conversation, sequences, max_new_tokens=4, bf16=self.bf16)
        if last:
            result.sequences = result.sequences[-last:]
        with tempfile.TemporaryDirectory() as folder:
            images = []
            for index, sequence in enumerate(result.sequences):
                path = attribution_track(
                    sequence, Path(folder) / f"track{index}.png",
                    title=f"@{sequence.name} ({len(sequence.sequence)} bp): gradient x input of "
                          f"the answer's first token {result.target_token.strip()!r}",
                )
                with Image.open(path) as image:
                    images.append(image.convert("RGB"))
        return result, stack_images(images)

    def respond(self, text: str, files, state: SessionState, with_attribution: bool = True) -> Reply:
        """Answers one message of the chat, and records it in ``state``.

        Args:
            text: the user's message.
            files: paths of the files attached to it (FASTA uploads).
            state: the session; gains the uploads and the exchange (a refused one too, as ``question=None``).
            with_attribution: also compute the attribution plot (one more forward and backward pass).

        Returns:
            A :class:`Reply`; a refused message's ``text`` says why and what to do, and nothing else is set.
        """
        text = (text or "").strip()
        try:
            asked = self._read_message(text, files, state)
        except DemoInputError as error:
            return _refused(error, state)
        if isinstance(asked, Reply):  # files without a question
            return asked
        question, used, conversation, referenced = asked
        sequences = {name: state.records[name] for name in referenced}
        try:
            answer, first_token_probability, prompt_state = self.generate(conversation, sequences)
        except ValueError as error:  # the processor's own checks (e.g. all sequences together too long)
            return _refused(error, state)
        if is_yes_no_question(text) and used:
            confidence, confidence_text = self._calibrated_confidence(question, used, conversation, state, prompt_state)
        else:
            confidence = {"first_token_probability": first_token_probability}
            why = (
                "calibrated probabilities are given for yes/no questions that name their sequences"
                if is_yes_no_question(text) else "calibrated probabilities are given for yes/no questions"
            )
            confidence_text = f"**Confidence:** first-token probability {first_token_probability:.2f} (uncalibrated; {why})"
        reply = Reply(f"{shown_answer(answer)}\n\n{confidence_text}", answer, confidence)
        if with_attribution and answer:
            try:
                reply.attribution, reply.plot = self.attribution_plot(conversation, sequences, last=len(used) or None)
            except Exception as error:  # the plot is an extra: its failure must not cost the user the answer
                logging.getLogger(__name__).exception("attribution failed")
                reply.attribution_error = f"{type(error).__name__}: {error}"
        state.exchanges.append(Exchange(question, answer))
        return reply

    def _read_message(self, text: str, files, state: SessionState):
        """The message's uploads added to ``state``, then ``(question with tags resolved, the records it names,
        the conversation ending with it, every record the conversation names)``; a :class:`Reply` for files sent
        without a question. Raises :class:`DemoInputError` for a message the demo cannot answer."""
        if len(text) > MAX_MESSAGE_CHARS:
            raise DemoInputError(
                f"Your message has {len(text):,} characters; the demo takes questions of up to {MAX_MESSAGE_CHARS:,}. "
                "Put sequences in a FASTA file (paperclip button) and ask about them by @id."
            )
        attached = add_uploads(state, files, self.processor, self.max_upload_bytes)
        if not text:
            if not attached:
                raise DemoInputError("Type a question, e.g. 'Is @my_record a promoter? Answer yes or no.'")
            reply = Reply(f"Uploaded {len(attached)} record(s): {_known_names(dict.fromkeys(attached))}. Ask about them by @id.")
            state.exchanges.append(Exchange(None, reply.text))
            return reply
        question, used = resolve_references(text, attached, state)
        conversation = state.conversation() + [{"role": "user", "content": question}]
        referenced = list(dict.fromkeys(
            found[0] for message in conversation if message["role"] == "user"
            for match in _TAG.finditer(message["content"])
            if (found := split_tag(match.group(1), state.records)) is not None
        ))
        if not referenced:
            hint = f" Your uploaded records: {_known_names(state.records)}." if state.records else (
                " Attach a FASTA file with the paperclip button first.")
            raise DemoInputError(
                "The question refers to no sequence: name a record as @record_id, or write "
                f"{DNA_PLACEHOLDER} for the records of a file attached to the same message.{hint}"
            )
        if len(referenced) > MAX_SEQUENCES_PER_CONVERSATION:
            raise DemoInputError(
                f"This conversation would refer to {len(referenced)} sequences, more than the demo's limit of "
                f"{MAX_SEQUENCES_PER_CONVERSATION}. Press the chat's clear button to start a new conversation."
            )
        return question, used, conversation, referenced

    def _calibrated_confidence(self, question: str, used, conversation: list[dict], state: SessionState, prompt_state):
        """The classifier's calibrated P(yes) for a yes/no question, and its line for the reply.

        The classifier reads the question on its own: its calibrator was fitted on single questions, and its answer
        scoring needs the new answer to be the conversation's only assistant turn. On a conversation's first turn
        that is generation's prompt, which it then continues from (``prompt_state``), not encoding it again.
        """
        own_sequences = {name: state.records[name] for name in used}
        with self._autocast():
            confidence = classify(self.model, self.processor, question, own_sequences, prompt_state=prompt_state)
        kind = "calibrated" if confidence["calibrated"] else "uncalibrated: the model has no calibration.json"
        scope = "; for this question on its own" if len(conversation) > 1 else ""
        return confidence, (
            f"**Confidence:** P(yes) = {confidence['p_positive']:.2f} ({kind}{scope}; the perplexity classifier "
            f"says *{confidence['label']}* with probability {confidence['probability']:.2f})"
        )


def _refused(error: Exception, state: SessionState) -> Reply:
    """The reply to a message the demo cannot answer (recorded in the session as a refused exchange)."""
    reply = Reply(f"⚠️ {error}")
    state.exchanges.append(Exchange(None, reply.text))
    return reply


def _assistant_turns(history) -> int:
    return sum(1 for message in history or [] if (message.get("role") if isinstance(message, dict) else None) == "assistant")


def chat_turn(demo: ChatNTDemo, message, history, state: SessionState | None, with_attribution: bool):
    """The Gradio callback: ``(reply markdown, session state, attribution image, caption)``.

    The chat's own history decides what the model remembers: after its clear, undo or retry buttons the
    session's exchanges are cut back to the turns still shown (and a cleared chat forgets its uploads).
    """
    state = copy.deepcopy(state) if state is not None else SessionState()
    shown = _assistant_turns(history)
    if shown == 0:
        state = SessionState()
    del state.exchanges[shown:]
    message = message if isinstance(message, dict) else {"text": message or "", "files": []}
    files = [item.get("path") if isinstance(item, dict) else item for item in message.get("files") or []]
    reply = demo.respond(message.get("text", ""), files, state, with_attribution)
    if reply.attribution is not None:
        caption = f"Attribution of the last answer ({reply.answer!r}); red bases push its first token up, blue down."
    elif reply.attribution_error is not None:
        caption = f"No attribution for this answer: {reply.attribution_error}"
    elif reply.answer is not None:
        caption = "Attribution is off (tick the box to compute it)."
    else:
        caption = ""
    return reply.text, state, reply.plot, caption


def build_demo(demo: ChatNTDemo, max_upload_bytes: int = MAX_UPLOAD_BYTES):
    """The Gradio app: the chat (multimodal textbox, examples) with the attribution plot beside it."""
    # No usage reports to Gradio's servers: the demo runs offline (set the variable to opt in).
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    examples = []
    if EXAMPLE_FASTA.is_file():
        example_file = str(EXAMPLE_FASTA)
        examples = [
            [{"text": "These are human sequences. Is it true that @promoter_candidate is a promoter? Answer yes or no.",
              "files": [example_file]}, None, None],
            [{"text": "Which of @promoter_candidate and @shuffled_control is a promoter?", "files": [example_file]},
             None, None],
            [{"text": "How GC-rich is @gc_rich_window? Answer with the GC percentage (0-100).", "files": [example_file]},
             None, None],
        ]
    limit = f"{max_upload_bytes / 1024 / 1024:g} MB"
    with gr.Blocks(title="ChatNT: ask questions about DNA") as app:
        gr.Markdown(
            "# ChatNT: ask questions about DNA\n"
            f"Attach FASTA files ({', '.join(UPLOAD_SUFFIXES)}, gzip ok, up to {limit}) with the paperclip, then ask "
            "about records by `@record_id` (or write `<DNA>` for the records attached to the same message). "
            f"Sequences up to {longest_readable(demo.processor):,} bp. Only your own uploads are read. "
            "The shipped demo model is small and weak: its answers barely depend on the DNA."
        )
        state = gr.State(SessionState())
        with gr.Row():
            chat_column = gr.Column(scale=3)
            with gr.Column(scale=2):
                # Created (rendered) here first so that the ChatInterface below uses them instead of
                # putting them in its "Additional Inputs" accordion under the chat.
                show_attribution = gr.Checkbox(value=True, label="Attribution plot for each answer")
                gr.Markdown("**Which bases the last answer rests on** (gradient x input)")
                plot = gr.Image(show_label=False, type="pil", elem_id="attribution-plot")
                caption = gr.Markdown(elem_id="attribution-caption")
            with chat_column:
                gr.ChatInterface(
                    lambda message, history, session, attribution: chat_turn(demo, message, history, session, attribution),
                    multimodal=True,
                    textbox=gr.MultimodalTextbox(
                        file_types=[*UPLOAD_SUFFIXES, ".gz"], file_count="multiple", sources=["upload"],
                        placeholder="Attach a FASTA file, then ask e.g. 'Is @seq1 a promoter? Answer yes or no.'",
                        elem_id="chat-input",
                    ),
                    chatbot=gr.Chatbot(elem_id="chat", height=520),
                    additional_inputs=[state, show_attribution],
                    additional_outputs=[state, plot, caption],
                    examples=examples or None,
                    cache_examples=False,
                    fill_height=False,
                )
    return app


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("CHATNT_MODEL", str(DEFAULT_MODEL)),
                        help="ChatNT directory or Hub id (default: $CHATNT_MODEL, else %(default)s)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to serve on (0.0.0.0 to reach it from other machines; default %(default)s)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="run code saved with the model: needed for a remote-code DNA encoder or tokenizer")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false",
                        help="full float32 on a CPU (default: bfloat16 autocast, about twice as fast)")
    args = parser.parse_args(argv)
    try:
        demo = ChatNTDemo.from_pretrained(args.model, trust_remote_code=args.trust_remote_code, bf16=args.bf16,
                                          max_new_tokens=args.max_new_tokens)
    except (OSError, ValueError) as error:
        print(f"app.py: error: {error}", file=sys.stderr)  # from_pretrained's messages name the model and the fix
        return 2
    build_demo(demo).launch(
        server_name=args.host, server_port=args.port, max_file_size=MAX_UPLOAD_BYTES,
        allowed_paths=[str(EXAMPLE_FASTA.parent)],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

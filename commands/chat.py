"""``chatnt chat``: an interactive conversation about the records of loaded FASTA files.

Lines are read from standard input (a terminal or a pipe). A line is a question, or a command:

  /load FILE [FILE ...]  load more FASTA records (ids must be new)
  /list                  the loaded records (id, length, file)
  /reset                 forget the conversation (loaded records stay)
  /history               the conversation so far
  /help                  this list
  /quit                  leave (so does the end of the input)

Questions name records by ``@id``, or by ``<DNA>``: with one record loaded ``<DNA>`` is that record; with
several, the question needs one ``<DNA>`` per loaded record (in load order) or ``@id`` tags. The
conversation is kept across turns: every question is answered with the earlier questions and answers as
chat messages before it, so "And is it bound by Oct4?" can follow "Is @x a promoter?". An error (a wrong
file, an unknown ``@id``) prints one line and the session goes on.
"""

import builtins
import sys
from dataclasses import dataclass, field

from ..fasta import read_fasta
from ..processing_chatnt import DNA_TOKEN, TAG
from .answering import AnswerResult, answer_batch
from .loading import load_chatnt
from .questions import wants_confidence
from .sequences import read_records, truncated_to_limit

COMMANDS_HELP = __doc__.split("\n\n")[2]


@dataclass
class ChatSession:
    """The state of a conversation: loaded records, the turns so far, and the model.

    Args:
        chatnt: a :class:`~chatnt.commands.loading.LoadedChatNT`.
        max_new_tokens: length limit of each answer.
        confidence: ``auto`` (probability for yes/no questions), ``always`` or ``never``.
        truncate: keep the start of a record longer than the encoder's limit instead of raising.
        bf16: bfloat16 autocast.
        iupac: read IUPAC ambiguity codes in loaded files as N (``--iupac-as-n``).
    """

    chatnt: object
    max_new_tokens: int = 64
    confidence: str = "auto"
    truncate: bool = False
    bf16: bool = True
    iupac: bool = False
    records: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)

    def load(self, path: str) -> list[str]:
        """Adds the records of a FASTA file; returns their ids.

        Raises:
            FileNotFoundError, ValueError: a bad file, or a record id that is already loaded (ids must stay
                unique so that ``@id`` in earlier turns keeps its meaning).
        """
        records = truncated_to_limit(self.chatnt.processor, read_records(path, self.iupac), self.truncate)
        clashes = [name for name in records if name in self.records]
        if clashes:
            raise ValueError(
                f"{path}: record id {clashes[0]!r} is already loaded from {self.sources[clashes[0]]}; ids must be "
                "unique. Rename the record, or start a new session."
            )
        self.records.update(records)
        self.sources.update({name: str(path) for name in records})
        return list(records)

    def reset(self) -> None:
        """Forgets the conversation; loaded records stay."""
        self.history.clear()

    def _with_tags(self, question: str) -> str:
        """``question`` with each ``<DNA>`` turned into the ``@id`` of the loaded record it stands for."""
        count = question.count(DNA_TOKEN)
        if count == 0:
            return question
        names = list(self.records)
        if len(names) == 1:
            names = names * count
        elif count != len(names):
            raise ValueError(
                f"the question holds {count} {DNA_TOKEN} but {len(self.records)} records are loaded; name records "
                "with @id instead (see /list)."
            )
        pieces = question.split(DNA_TOKEN)
        return pieces[0] + "".join(f"@{name}{piece}" for name, piece in zip(names, pieces[1:]))

    def ask(self, question: str) -> AnswerResult:
        """Answers ``question`` in the context of the conversation so far, and adds both to it."""
        if DNA_TOKEN in question and not self.records:
            raise ValueError(f"no records are loaded for {DNA_TOKEN}: /load a FASTA file first.")
        turn = {"role": "user", "content": self._with_tags(question)}
        messages = [*self.history, turn]
        # Without any @id in the conversation the model gets no DNA (the processor would expect one <DNA> each).
        refers = any(TAG.search(m["content"]) for m in messages if m["role"] == "user")
        (result,) = answer_batch(
            self.chatnt, [messages], [dict(self.records) if refers else None],
            [wants_confidence(question, self.confidence)], max_new_tokens=self.max_new_tokens, bf16=self.bf16,
        )
        self.history += [turn, {"role": "assistant", "content": result.answer}]
        return result

    def list_records(self) -> str:
        if not self.records:
            return "no records loaded (/load FILE)"
        return "\n".join(
            f"@{name}\t{len(sequence)} bp\t{self.sources[name]}" for name, sequence in self.records.items()
        )

    def history_text(self) -> str:
        if not self.history:
            return "(no conversation yet)"
        return "\n".join(f"{message['role']}: {message['content']}" for message in self.history)

    def handle(self, line: str) -> tuple[str | None, bool]:
        """One input line -> ``(text to print or None, whether to go on)``. Errors propagate to the caller."""
        line = line.strip()
        if not line:
            return None, True
        if not line.startswith("/"):
            return str(self.ask(line)), True
        command, *arguments = line.split()
        if command in ("/quit", "/exit"):
            return None, False
        if command == "/help":
            return COMMANDS_HELP, True
        if command == "/list":
            return self.list_records(), True
        if command == "/history":
            return self.history_text(), True
        if command == "/reset":
            self.reset()
            return "conversation reset (records stay loaded)", True
        if command == "/load":
            if not arguments:
                raise ValueError("/load needs a FASTA file: /load FILE")
            loaded = [name for path in arguments for name in self.load(path)]
            return f"loaded {len(loaded)} record(s): " + ", ".join("@" + n for n in loaded[:10]) + (
                ", ..." if len(loaded) > 10 else ""), True
        raise ValueError(f"unknown command {command}; commands: /load /list /reset /history /help /quit")


def chat(
    fasta=(),
    model: str | None = None,
    trust_remote_code: bool = False,
    input=None,
    output=None,
    max_new_tokens: int = 64,
    confidence: str = "auto",
    truncate: bool = False,
    bf16: bool = True,
    iupac: bool = False,
) -> ChatSession:
    """Runs an interactive conversation: reads lines from ``input`` until ``/quit`` or its end.

    Args:
        fasta: FASTA files to load before the first question.
        model: a ChatNT directory or Hub id; default: the shipped model.
        trust_remote_code: run code saved with the model (a remote-code DNA encoder or tokenizer).
        input: where lines come from; default ``sys.stdin`` (a terminal or a pipe).
        output: where answers go; default ``sys.stdout``.
        max_new_tokens, confidence, truncate, bf16, iupac: as for :class:`ChatSession`.

    Returns:
        The :class:`ChatSession` at the end (its ``history`` holds the conversation).

    Raises:
        FileNotFoundError, ValueError: a bad ``--fasta`` file or model, before the session starts. Inside the
            session an error prints ``error: ...`` and the session goes on.
    """
    input = input or sys.stdin
    output = output or sys.stdout
    paths = [fasta] if isinstance(fasta, str) else list(fasta)
    for path in paths:  # bad input reported before the model loads
        read_fasta(path)
    session = ChatSession(load_chatnt(model, trust_remote_code), max_new_tokens, confidence, truncate, bf16, iupac)
    for path in paths:
        session.load(path)
    interactive = hasattr(input, "isatty") and input.isatty()
    if interactive:
        print(f"ChatNT chat ({session.chatnt.path}); {len(session.records)} record(s) loaded. /help lists commands.",
              file=output)

    def next_line() -> str:
        """The next line, "" at the end; a terminal gets a prompt (and line editing through input())."""
        if not interactive:
            return input.readline()
        if input is sys.stdin and output is sys.stdout:
            try:
                return builtins.input("> ") + "\n"
            except EOFError:
                return ""
        print("> ", end="", file=output, flush=True)
        return input.readline()

    while True:
        line = next_line()
        if not line:
            break
        try:
            text, going_on = session.handle(line)
        except (ValueError, FileNotFoundError, IsADirectoryError, TypeError) as error:
            text, going_on = f"error: {error}", True
        if text:
            print(text, file=output, flush=True)
        if not going_on:
            break
    return session


__all__ = ["ChatSession", "chat"]

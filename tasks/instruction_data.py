"""Instruction (chat) datasets for ChatNT, built on ``datasets`` from the task registry's real data.

Each row of a built dataset has exactly these columns (the training collator relies on them):

* ``task``: the registry name (:data:`chatnt.tasks.registry.TASKS`),
* ``messages``: ``[{"role", "content"}, ...]``: an optional system message, then user / assistant turns;
  user turns refer to sequences by ``@name`` tags (resolved by ``ChatNTProcessor``),
* ``sequences``: ``[{"name", "sequence"}, ...]``: the sequences the tags name,
* ``split``: ``"train"`` or ``"test"`` (the record's split in the registry),
* ``answers``: the gold answer of every assistant turn, in a canonical form :func:`normalize_answer`
  maps generated text to: a label, ``"yes"``/``"no"``, ``"@name"`` for two-sequence questions, labels
  joined by ``", "`` (or ``"none"``) for multilabel questions, a number with ``decimals`` digits.

Question kinds: ``choice`` (which label / which labels / what value), ``yes_no`` (does a label hold),
``pair`` (which of two sequences has a label, or the higher value); a share of rows are multi-turn
conversations about the same sequence(s) (the task's own question and yes/no questions not yet asked;
a single-sequence regression row has nothing new to ask, so only its two-sequence rows get follow-ups). Question and answer phrasings come from pools that are
DISJOINT between train and test rows, so test scores measure the task, not memorised wording.

Example:
    >>> from chatnt.tasks.registry import load_task
    >>> from chatnt.tasks.instruction_data import InstructionConfig, build_task_rows
    >>> rows = build_task_rows("core_promoter", load_task("core_promoter"), InstructionConfig(seed=0))
    >>> rows[0]["messages"][1]["content"]  # doctest: +SKIP
    'Is @seq a human core promoter? Answer with one of: Non-promoter, promoter.'
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from chatnt.tasks.answer_parsing import parse_answer
from chatnt.tasks.registry import SPLITS, TASKS, TaskSpec, get_task, load_hub_task, load_tasks
from datasets import (
    Dataset,
    DatasetDict,
    Features,
    List,
    Value,
    concatenate_datasets,
    interleave_datasets,
)

ROW_FEATURES = Features(
    {
        "task": Value("string"),
        "messages": List({"role": Value("string"), "content": Value("string")}),
        "sequences": List({"name": Value("string"), "sequence": Value("string")}),
        "split": Value("string"),
        "answers": List(Value("string")),
        # The task records the sequences come from (their registry ids), in the order of "sequences".
        "record_ids": List(Value("string")),
    }
)
ALPACA_FEATURES = Features({name: Value("string") for name in ("instruction", "input", "output", "task", "split")})

# Neutral names only: a name such as "shuffled_1" or a FASTA id would leak the label into the question.
SINGLE_NAMES = ("seq", "dna", "query", "sample", "x", "input")
PAIR_NAMES = (("seq1", "seq2"), ("a", "b"), ("first", "second"), ("left", "right"), ("x", "y"))


@dataclasses.dataclass(frozen=True)
class TaskPhrasing:
    """The wording of one task's questions, with separate train and test pools.

    Args:
        questions: ``{"train": templates, "test": templates}`` for the task's own (choice) question. Fields:
            ``{seq}`` (the ``@name`` tag), ``{options}`` (labels), ``{context}`` (species / cell type words),
            and for regression ``{low}``, ``{high}``, ``{unit}``.
        predicates: per label, a predicate that completes "Is it true that @seq ..." and "Which of @a and
            @b ..." (``"is a core promoter"``); labels without one get no yes/no or two-sequence questions.
            For regression, the key ``"higher"`` gives the comparison predicate of two-sequence questions.
    """

    questions: dict[str, tuple[str, ...]]
    predicates: dict[str, str] = dataclasses.field(default_factory=dict)


# Generic templates, completed with a task's predicate. ``{context_prefix}`` names the species when known.
YES_NO_QUESTIONS = {
    "train": (
        "{context_prefix}Is it true that {seq} {predicate}? Answer yes or no.",
        "{context_prefix}Tell me whether {seq} {predicate}. Reply with yes or no.",
        "{context_prefix}Would you say that {seq} {predicate}? Yes or no?",
        "{context_prefix}Yes or no: {seq} {predicate}?",
        "{context_prefix}Does it hold that {seq} {predicate}? Say yes or no.",
        "{context_prefix}True or false, answered yes or no: {seq} {predicate}.",
        "{context_prefix}I think {seq} {predicate}. Am I right? Answer yes or no.",
        "{context_prefix}Can you tell whether {seq} {predicate}? Just yes or no.",
    ),
    "test": (
        "{context_prefix}Please confirm or deny that {seq} {predicate} (yes/no).",
        "{context_prefix}Check whether {seq} {predicate}; respond yes or no.",
    ),
}
PAIR_QUESTIONS = {
    "train": (
        "{context_prefix}Which of {a} and {b} {predicate}?",
        "{context_prefix}Of the two sequences {a} and {b}, which one {predicate}?",
        "{context_prefix}Exactly one of {a} and {b} {predicate}. Which?",
        "{context_prefix}One of {a} and {b} {predicate}. Which one?",
        "{context_prefix}Which sequence {predicate}, {a} or {b}?",
        "{context_prefix}Compare {a} with {b}: which of them {predicate}?",
    ),
    "test": (
        "{context_prefix}{a} or {b}: which {predicate}?",
        "{context_prefix}Between {a} and {b}, name the sequence that {predicate}.",
    ),
}
CONTEXT_PREFIXES = {"train": "These are {context} sequences. ", "test": "Organism: {context}. "}
ANSWERS = {
    "label": {
        "train": ("{answer}", "{answer}.", "The answer is {answer}.", "This sequence is classified as {answer}."),
        "test": ("Prediction: {answer}.", "I would say {answer}."),
    },
    "labels": {
        "train": ("{answer}", "{answer}.", "Motifs found: {answer}."),
        "test": ("The sequence contains: {answer}.", "Detected: {answer}."),
    },
    "number": {
        "train": ("{answer}", "{answer}{unit}", "The value is {answer}{unit}."),
        "test": ("I estimate {answer}{unit}.", "Roughly {answer}{unit}."),
    },
    "yes_no": {
        "train": ("{answer}", "{Answer}."),
        "test": ("My answer is {answer}.", "{Answer}, going by the sequence."),
    },
    "pair": {
        "train": ("{answer}", "{answer}.", "The answer is {answer}."),
        "test": ("That would be {answer}.", "I pick {answer}."),
    },
}
NO_LABELS = "none"

PHRASINGS: dict[str, TaskPhrasing] = {
    "core_promoter": TaskPhrasing(
        {
            "train": (
                "Is {seq} a {context} core promoter? Answer with one of: {options}.",
                "Classify the core promoter status of the {context} sequence {seq}. Options: {options}.",
                "Does the 70 bp {context} DNA fragment {seq} contain a core promoter? Choose from {options}.",
                "{seq} is a short {context} genomic sequence. Core promoter or not? Reply with {options}.",
                "Is there a core promoter in the {context} sequence {seq}? Pick one of {options}.",
                "{seq} comes from the {context} genome. Is it a core promoter? Valid labels: {options}.",
                "Core promoter prediction for {seq} ({context}). Respond with {options}.",
                "Would you call the {context} fragment {seq} a core promoter? The labels are {options}.",
                "Please classify {seq}, a 70 bp {context} sequence, as {options}.",
                "What is {seq}: a {context} core promoter or not? Use one of {options}.",
                "Tell me if {seq} is a {context} core promoter ({options}).",
                "Here is a {context} sequence, {seq}. Core promoter? Choose {options}.",
            ),
            "test": (
                (
                    "Determine whether {seq}, taken from the {context} genome, acts as a core promoter. "
                    "Possible answers: {options}."
                ),
                "Label {seq} ({context}, 70 bp) for core promoter activity using {options}.",
            ),
        },
        {"promoter": "is a core promoter", "Non-promoter": "is not a core promoter"},
    ),
    "promoter_300": TaskPhrasing(
        {
            "train": (
                "Is the {context} sequence {seq} a promoter? Answer with one of: {options}.",
                "Classify the 300 bp {context} region {seq} as promoter or not. Options: {options}.",
                "Does {seq} ({context} DNA) contain a promoter? Choose from {options}.",
                "Decide if the {context} genomic region {seq} is a promoter. Reply with {options}.",
                "Is there a promoter in the {context} region {seq}? Pick one of {options}.",
                "{seq} is 300 bp of {context} DNA. Is it a promoter? Valid labels: {options}.",
                "Promoter prediction for {seq} ({context}). Respond with {options}.",
                "Would you call the {context} region {seq} a promoter? The labels are {options}.",
                "Please classify {seq}, a 300 bp {context} sequence, as {options}.",
                "What is {seq}: a {context} promoter or not? Use one of {options}.",
                "Tell me if {seq} is a {context} promoter ({options}).",
                "Here is a {context} window, {seq}. Promoter? Choose {options}.",
            ),
            "test": (
                "Would {seq}, a {context} DNA window, drive transcription as a promoter? Possible answers: {options}.",
                "Assign {seq} ({context}, 300 bp) to one of {options}.",
            ),
        },
        {"promoter": "is a promoter", "Non-promoter": "is not a promoter"},
    ),
    "tf_binding": TaskPhrasing(
        {
            "train": (
                "Is {seq} a transcription factor binding site? Answer with one of: {options}.",
                "Classify the 101 bp sequence {seq} as a binding site or background. Options: {options}.",
                "Does a transcription factor bind {seq}? Choose from {options}.",
                "Is {seq} bound by a transcription factor in ChIP-seq? Reply with {options}.",
                "Does {seq} hold a transcription factor binding site? Pick one of {options}.",
                "{seq} is a 101 bp sequence. Bound or background? Valid labels: {options}.",
                "Binding site prediction for {seq}. Respond with {options}.",
                "Would you call {seq} a transcription factor binding site? The labels are {options}.",
                "Please classify {seq} as {options}.",
                "What is {seq}: a binding site or background? Use one of {options}.",
                "Tell me if a transcription factor binds {seq} ({options}).",
                "Here is a ChIP-seq candidate, {seq}. Choose {options}.",
            ),
            "test": (
                "Would a ChIP-seq experiment find a transcription factor on {seq}? Possible answers: {options}.",
                "Sort {seq} into one of {options}.",
            ),
        },
        {
            "Binding Sites": "is a transcription factor binding site",
            "Background Sequences": "is background sequence without a binding site",
        },
    ),
    "splice_site": TaskPhrasing(
        {
            "train": (
                "What kind of splice site does the {context} sequence {seq} contain? Answer with one of: {options}.",
                "Classify the splice site of the 400 bp {context} region {seq}. Options: {options}.",
                "Is {seq} ({context} pre-mRNA DNA) a donor, an acceptor or no splice site? Choose from {options}.",
                "Which splice site type is centred in the {context} sequence {seq}? Reply with {options}.",
                "Which splice site, if any, lies in {seq} ({context})? Pick one of {options}.",
                "{seq} is 400 bp of {context} DNA. Donor, acceptor or neither? Valid labels: {options}.",
                "Splice site prediction for {seq} ({context}). Respond with {options}.",
                "What kind of splice junction does the {context} window {seq} hold? The labels are {options}.",
                "Please classify {seq}, a {context} sequence, as {options}.",
                "Does the {context} sequence {seq} hold a donor site, an acceptor site or neither? Use one of {options}.",
                "Tell me the splice site type of {seq} ({options}).",
                "Here is a {context} pre-mRNA window, {seq}. Choose {options}.",
            ),
            "test": (
                "Identify the exon-intron boundary type, if any, in {seq} ({context}). Possible answers: {options}.",
                "Assign the {context} window {seq} to one of {options}.",
            ),
        },
        {
            "Donor Sites": "holds a splice donor site",
            "Acceptor Sites": "holds a splice acceptor site",
            "Non-Splice Sites": "holds no splice site",
        },
    ),
    "promoter_terminator": TaskPhrasing(
        {
            "train": (
                "Is {seq} a promoter or a terminator? Answer with one of: {options}.",
                "Classify the 2 kb region {seq}. Options: {options}.",
                "Does {seq} start or end transcription? Choose from {options}.",
                "Tell whether the DNA region {seq} is a promoter or a terminator. Reply with {options}.",
                "Promoter or terminator: which is {seq}? Pick one of {options}.",
                "{seq} is a 2 kb DNA region. Does it begin or end transcription? Valid labels: {options}.",
                "Regulatory element prediction for {seq}. Respond with {options}.",
                "Would you call {seq} a promoter or a terminator? The labels are {options}.",
                "Please classify {seq} as {options}.",
                "What is {seq}: where transcription starts or where it stops? Use one of {options}.",
                "Tell me if {seq} is a promoter or a terminator ({options}).",
                "Here is a DNA region, {seq}. Choose {options}.",
            ),
            "test": (
                (
                    "Decide if {seq} marks where a gene's transcription begins or where it stops. "
                    "Possible answers: {options}."
                ),
                "Give the regulatory role of {seq}, one of {options}.",
            ),
        },
        {"promoter": "is a promoter", "terminator": "is a terminator"},
    ),
    "rrna_type": TaskPhrasing(
        {
            "train": (
                "Which ribosomal RNA gene is {seq} from? Answer with one of: {options}.",
                "Classify the rRNA fragment {seq}. Options: {options}.",
                "Is the 500 bp rRNA gene fragment {seq} 16S, 18S or 23S/28S? Choose from {options}.",
                "Name the ribosomal RNA that {seq} belongs to. Reply with {options}.",
                "Which rRNA does {seq} come from? Pick one of {options}.",
                "{seq} is a fragment of a ribosomal RNA gene. Which one? Valid labels: {options}.",
                "rRNA type prediction for {seq}. Respond with {options}.",
                "Which ribosomal subunit RNA is encoded by {seq}? The labels are {options}.",
                "Please classify the ribosomal RNA fragment {seq} as {options}.",
                "What is {seq}: 16S, 18S or 23S/28S rRNA? Use one of {options}.",
                "Tell me which rRNA gene {seq} is from ({options}).",
                "Here is a ribosomal RNA gene fragment, {seq}. Choose {options}.",
            ),
            "test": (
                "{seq} is part of a ribosomal RNA gene. Which subunit RNA does it encode? Possible answers: {options}.",
                "Assign the rRNA sequence {seq} to one of {options}.",
            ),
        },
        {
            "16S": "comes from a 16S rRNA gene",
            "18S": "comes from an 18S rRNA gene",
            "23S/28S": "comes from a large-subunit (23S/28S) rRNA gene",
        },
    ),
    "oct4_mafk": TaskPhrasing(
        {
            "train": (
                (
                    "Which transcription factor's ChIP-seq peak is the {context} sequence {seq}? "
                    "Answer with one of: {options}."
                ),
                "The {context} 200 bp sequence {seq} is a ChIP-seq peak. Which factor? Options: {options}.",
                "Is {seq} ({context}) bound by Oct4 or by Mafk? Choose from {options}.",
                "Name the factor whose {context} ChIP-seq peak {seq} is. Reply with {options}.",
                "Which factor was immunoprecipitated at the {context} peak {seq}? Pick one of {options}.",
                "{seq} is a {context} ChIP-seq peak. Oct4 or Mafk? Valid labels: {options}.",
                "Transcription factor prediction for the {context} peak {seq}. Respond with {options}.",
                "Which transcription factor binds the {context} sequence {seq}? The labels are {options}.",
                "Please classify the {context} ChIP-seq peak {seq} as {options}.",
                "What is {seq}: an Oct4 peak or a Mafk peak ({context})? Use one of {options}.",
                "Tell me which factor's peak {seq} is ({context}; {options}).",
                "Here is a {context} ChIP-seq peak, {seq}. Choose {options}.",
            ),
            "test": (
                (
                    "{seq} was pulled down in a {context} ChIP-seq experiment. Which antibody target? "
                    "Possible answers: {options}."
                ),
                "Attribute the {context} peak {seq} to one of {options}.",
            ),
        },
        {"Oct4": "is an Oct4 ChIP-seq peak", "Mafk": "is a Mafk ChIP-seq peak"},
    ),
    "fly_promoter_shuffled": TaskPhrasing(
        {
            "train": (
                (
                    "Is {seq} a real {context} promoter region or a dinucleotide-shuffled sequence? "
                    "Answer with one of: {options}."
                ),
                "Classify the 300 bp sequence {seq} ({context} upstream region or shuffle). Options: {options}.",
                "Is {seq} genuine {context} DNA upstream of a transcript start? Choose from {options}.",
                "Real {context} promoter or shuffled control: which is {seq}? Reply with {options}.",
                "Is {seq} a genuine {context} promoter region or a shuffle? Pick one of {options}.",
                "{seq} is 300 bp of DNA. Real {context} promoter or shuffled? Valid labels: {options}.",
                "Real-or-shuffled prediction for {seq} ({context}). Respond with {options}.",
                "Would you call {seq} a real {context} promoter region? The labels are {options}.",
                "Please classify {seq} ({context} promoter region or shuffled control) as {options}.",
                "What is {seq}: real {context} upstream DNA or a shuffled sequence? Use one of {options}.",
                "Tell me if {seq} is a real {context} promoter region ({options}).",
                "Here is a sequence, {seq}, either a {context} promoter region or a shuffle. Choose {options}.",
            ),
            "test": (
                (
                    "Could {seq} be the region just upstream of a {context} gene, or is it a shuffled decoy? "
                    "Possible answers: {options}."
                ),
                "Tell genuine from scrambled: assign {seq} ({context}) to one of {options}.",
            ),
        },
        {"promoter": "is a real promoter region", "shuffled": "is a dinucleotide-shuffled sequence"},
    ),
    "promoter_motifs": TaskPhrasing(
        {
            "train": (
                (
                    "Which of these core promoter motifs occur in the {context} sequence {seq}: {options}? "
                    "List them, or say none."
                ),
                "List the motifs among {options} found in {seq} ({context} promoter region), or say none.",
                "Scan the {context} upstream region {seq} for {options}. Which are present?",
                "Which of {options} does the {context} promoter region {seq} contain? List them or say none.",
                "{seq} is a {context} promoter region. Which of {options} are in it? Say none if none.",
                "Motif scan of {seq} ({context}) for {options}: which are present? Say none if none.",
                "Tell me which of {options} occur in {seq} ({context}), or none.",
                "Here is a {context} promoter region, {seq}. Which of {options} does it carry? List them, or say none.",
            ),
            "test": (
                "Report every element of {options} that the {context} promoter {seq} carries (none if no element).",
                "Which of {options} can be found in {seq} ({context})?",
            ),
        },
        {
            "TATA box": "contains a TATA box (TATAWAW)",
            "CAAT box": "contains a CAAT box (CCAAT)",
            "GC box": "contains a GC box (GGGCGG)",
            "Inr": "contains an initiator element (TCAKTY)",
        },
    ),
    "gc_content": TaskPhrasing(
        {
            "train": (
                "What is the GC content of the {context} sequence {seq}, as a percentage between {low} and {high}?",
                "Give the percentage of G and C bases in {seq} ({context} DNA), a value from {low} to {high}.",
                "How GC-rich is {seq}? Answer with the GC percentage ({low}-{high}).",
                "What percentage of {seq} ({context}) is G or C? Give a value from {low} to {high}.",
                "{seq} is {context} DNA. What is its GC content in percent ({low}-{high})?",
                "GC content prediction for {seq}: a percentage from {low} to {high}.",
                "Tell me the GC percentage of the {context} sequence {seq} ({low} to {high}).",
                "Here is a {context} sequence, {seq}. How much of it is G plus C, in percent ({low}-{high})?",
            ),
            "test": (
                (
                    "Compute the fraction of guanine plus cytosine in the {context} region {seq}, in percent "
                    "({low} to {high})."
                ),
                "State the G+C percentage of {seq} on a scale of {low} to {high}.",
            ),
        },
        {"higher": "has the higher GC content"},
    ),
}


@dataclasses.dataclass
class InstructionConfig:
    """How rows are built.

    Args:
        seed: seeds every choice (question kind, phrasing, names, partners), so a build is reproducible.
        pair_fraction: share of rows asking about two sequences.
        yes_no_fraction: share of single-sequence rows asking a yes/no question instead of the task's own.
        multi_turn_fraction: share of rows with follow-up questions about the same sequence(s).
        max_turns: most questions in a multi-turn row.
        decimals: digits after the point in regression answers.
        system_message: ``True`` for :func:`system_message` over the built tasks, a string for a fixed one,
            ``None`` for no system message (the processor then adds its default).
        plain_test: test rows ask only the task's own question, once per record, so per-task metrics
            (MCC, Pearson r) compare with published ones; train rows keep every kind.
    """

    seed: int = 0
    pair_fraction: float = 0.2
    yes_no_fraction: float = 0.2
    multi_turn_fraction: float = 0.2
    max_turns: int = 3
    decimals: int = 2
    system_message: bool | str | None = True
    plain_test: bool = False

    def __post_init__(self):
        for name in ("pair_fraction", "yes_no_fraction", "multi_turn_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}.")
        if self.max_turns < 2 and self.multi_turn_fraction > 0:
            raise ValueError("max_turns must be at least 2 when multi_turn_fraction > 0.")
        if self.decimals < 0:
            raise ValueError(f"decimals must be >= 0, got {self.decimals}.")


def system_message(tasks: Iterable[str | TaskSpec] | None = None) -> str:
    """The system message: the tasks (names or specs; default all registered) the model was trained on, so
    it can tell a user what it can and cannot answer.

    Kept short on purpose (~140 SmolLM2 tokens for all ten tasks, half of a version that also listed
    labels and the published ChatNT sentence): it is part of every training
    conversation, and the frozen decoder's cost grows with every token. The labels are not listed here;
    each question names its options.

    Example:
        >>> system_message(["gc_content"])[-83:]
        'on: GC content (percent), human. For other questions your answers are not reliable.'
    """
    names = []
    for task in tasks if tasks is not None else TASKS:
        spec = get_task(task) if isinstance(task, str) else task
        names.append(f"{spec.description}, {spec.context}" if spec.context else spec.description)
    return (
        "You are ChatNT, an assistant for DNA sequences, trained to answer questions on: "
        f"{'; '.join(names)}. For other questions your answers are not reliable."
    )


class _RowBuilder:
    """Builds the rows of one task and split; keeps the rng and the per-label record index together."""

    def __init__(
        self,
        spec: TaskSpec,
        phrasing: TaskPhrasing,
        records: list[dict],
        split: str,
        config: InstructionConfig,
        rng: random.Random,
    ):
        self.spec, self.phrasing, self.records, self.split = spec, phrasing, records, split
        self.config, self.rng = config, rng
        self.predicates = {key: text for key, text in phrasing.predicates.items() if key != "higher"}
        # Records by (predicate label, truth), so finding a two-sequence partner is one lookup.
        self.by_truth = {
            (label, truth): [record for record in records if self.holds(record, label) == truth]
            for label in self.predicates
            for truth in (True, False)
        }

    # Truth of a predicate label for a record, and the canonical answers.
    def holds(self, record: dict, label: str) -> bool:
        return label in record["label"] if self.spec.type == "multilabel" else record["label"] == label

    def gold(self, record: dict) -> str:
        if self.spec.type == "regression":
            return f"{record['label']:.{self.config.decimals}f}"
        if self.spec.type == "multilabel":
            present = [label for label in self.spec.labels if label in record["label"]]
            return ", ".join(present) or NO_LABELS
        return record["label"]

    def pick(self, pool: dict[str, tuple[str, ...]]) -> str:
        # One draw whatever the pool's size (rng.choice's draws depend on it), so the same records get the
        # same names and partners when asked in another pool (evaluate_chatnt's training-phrasing diagnostic).
        templates = pool[self.split]
        return templates[int(self.rng.random() * len(templates))]

    def context_prefix(self) -> str:
        return CONTEXT_PREFIXES[self.split].format(context=self.spec.context) if self.spec.context else ""

    def answer_text(self, kind: str, answer: str) -> str:
        template = self.pick(ANSWERS[kind])
        return template.format(answer=answer, Answer=answer.capitalize(), unit=self.spec.unit)

    # One (question, answer text, gold) per kind.
    def choice(self, record: dict, name: str) -> tuple[str, str, str]:
        low, high = self.spec.value_range or (0, 0)
        question = self.pick(self.phrasing.questions).format(
            seq=f"@{name}",
            options=", ".join(self.spec.labels),
            context=self.spec.context,
            low=f"{low:g}",
            high=f"{high:g}",
            unit=self.spec.unit,
        )
        gold = self.gold(record)
        kind = {"regression": "number", "multilabel": "labels"}.get(self.spec.type, "label")
        return question, self.answer_text(kind, gold), gold

    def yes_no(self, record: dict, name: str, label: str) -> tuple[str, str, str]:
        question = self.pick(YES_NO_QUESTIONS).format(
            context_prefix=self.context_prefix(), seq=f"@{name}", predicate=self.predicates[label]
        )
        gold = "yes" if self.holds(record, label) else "no"
        return question, self.answer_text("yes_no", gold), gold

    def pair_partner(self, record: dict) -> tuple[dict, str] | None:
        """A record that differs from ``record`` on a predicate, and the predicate's key; ``None`` if none."""
        if self.spec.type == "regression":
            if "higher" not in self.phrasing.predicates:
                return None
            low, high = self.spec.value_range
            # A clear gap (5% of the range) so the comparison is decided by the sequences, not by rounding.
            margin = 0.05 * (high - low)
            for _ in range(20):
                other = self.rng.choice(self.records)
                if abs(other["label"] - record["label"]) >= margin:
                    return other, "higher"
            return None
        for label in self.rng.sample(sorted(self.predicates), len(self.predicates)):
            candidates = self.by_truth[(label, not self.holds(record, label))]
            if candidates:
                return self.rng.choice(candidates), label
        return None

    def pair(self, record: dict, other: dict, key: str, names: tuple[str, str]) -> tuple[str, str, str]:
        question = self.pick(PAIR_QUESTIONS).format(
            context_prefix=self.context_prefix(),
            a=f"@{names[0]}",
            b=f"@{names[1]}",
            predicate=self.phrasing.predicates[key],
        )
        if key == "higher":
            first_wins = record["label"] > other["label"]
        else:
            first_wins = self.holds(record, key)
        gold = f"@{names[0] if first_wins else names[1]}"
        return question, self.answer_text("pair", gold), gold

    def row(self, record: dict, system: str | None) -> dict:
        rng, config = self.rng, self.config
        partner = self.pair_partner(record) if rng.random() < config.pair_fraction else None
        asked = set()  # (name, predicate label or None for the task's own question): follow-ups ask anew
        if partner is not None:
            other, key = partner
            names = rng.choice(PAIR_NAMES)
            if rng.random() < 0.5:  # the record is @a or @b with equal odds, so position says nothing
                record, other = other, record
            turns = [self.pair(record, other, key, names)]
            named = [(names[0], record), (names[1], other)]
        else:
            name = rng.choice(SINGLE_NAMES)
            label = rng.choice(sorted(self.predicates)) if self.predicates else None
            if label is not None and rng.random() < config.yes_no_fraction:
                turns, asked = [self.yes_no(record, name, label)], {(name, label)}
            else:
                turns, asked = [self.choice(record, name)], {(name, None)}
            named = [(name, record)]
        if rng.random() < config.multi_turn_fraction:
            # Follow-ups: the task's own question or a yes/no question, about any sequence of the row.
            follow_ups = [
                (name, label)
                for name, _ in named
                for label in (None, *sorted(self.predicates))
                if (name, label) not in asked
            ]
            count = min(rng.randint(1, config.max_turns - 1), len(follow_ups))
            for name, label in rng.sample(follow_ups, count):
                about = dict(named)[name]
                turns.append(self.choice(about, name) if label is None else self.yes_no(about, name, label))
        messages = [{"role": "system", "content": system}] if system else []
        for question, answer, _ in turns:
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        return {
            "task": self.spec.name,
            "messages": messages,
            "sequences": [{"name": name, "sequence": about["sequence"]} for name, about in named],
            "split": self.split,
            "answers": [gold for _, _, gold in turns],
            "record_ids": [str(about["id"]) for _, about in named],
        }


def _system_for(config: InstructionConfig, tasks: list[str | TaskSpec]) -> str | None:
    if config.system_message is True:
        return system_message(tasks)
    return config.system_message or None


def build_task_rows(
    task: str | TaskSpec,
    data: Dataset,
    config: InstructionConfig | None = None,
    phrasing: TaskPhrasing | None = None,
    system: str | None = None,
) -> Dataset:
    """Instruction rows for one task: one row per record of ``data`` (a :func:`load_task` dataset).

    Args:
        task: a registry name, or a :class:`TaskSpec` (e.g. for a Hub task).
        data: records with ``id, sequence, label, split``.
        config: see :class:`InstructionConfig`.
        phrasing: the task's wording; default ``PHRASINGS[task name]``.
        system: the system message; default from ``config`` (the task list of this one task).

    Raises:
        KeyError: unknown task, or no phrasing for it. ValueError: a record's split or label is invalid.
    """
    spec = get_task(task) if isinstance(task, str) else task
    config = config or InstructionConfig()
    if phrasing is None:
        if spec.name not in PHRASINGS:
            raise KeyError(f"No phrasing for task {spec.name!r}; pass phrasing=TaskPhrasing(...).")
        phrasing = PHRASINGS[spec.name]
    for split in SPLITS:
        if not phrasing.questions.get(split):
            raise ValueError(f"Task {spec.name!r}: the phrasing has no {split!r} questions.")
        if not spec.context and any("{context}" in question for question in phrasing.questions[split]):
            raise ValueError(
                f"Task {spec.name!r} names no species or cell type, but its questions use {{context}}; set "
                "TaskSpec.species / cell_type or use questions without it."
            )
    unknown = set(data.unique("split")) - set(SPLITS)
    if unknown:
        raise ValueError(f"Task {spec.name!r}: unknown split(s) {sorted(unknown)}; expected 'train' / 'test'.")
    system = system if system is not None else _system_for(config, [spec])
    rows = []
    for split in SPLITS:
        records = [record for record in data if record["split"] == split]
        for record in records:
            if spec.is_classification and record["label"] not in spec.labels:
                raise ValueError(f"Task {spec.name!r}, record {record['id']!r}: label {record['label']!r} unknown.")
        # One rng per (seed, task, split): adding a task or changing the other split leaves these rows alone.
        rng = random.Random(f"{config.seed}:{spec.name}:{split}")
        split_config = config
        if split == "test" and config.plain_test:
            split_config = dataclasses.replace(config, pair_fraction=0.0, yes_no_fraction=0.0, multi_turn_fraction=0.0)
        builder = _RowBuilder(spec, phrasing, records, split, split_config, rng)
        rows += [builder.row(record, system) for record in records]
    return Dataset.from_list(rows, features=ROW_FEATURES)


def build_instruction_datasets(
    task_data: dict[str, Dataset], config: InstructionConfig | None = None
) -> dict[str, Dataset]:
    """Rows of every task, as ``{task: Dataset}``; all rows share one system message listing these tasks.

    Example:
        >>> from chatnt.tasks.registry import load_tasks
        >>> per_task = build_instruction_datasets(load_tasks(["core_promoter", "gc_content"]))
        >>> train = uniform_task_mixture(per_task, split="train", seed=0)
    """
    config = config or InstructionConfig()
    system = _system_for(config, list(task_data))
    return {name: build_task_rows(name, data, config, system=system) for name, data in task_data.items()}


def _split_rows(data: Dataset, split: str) -> Dataset:
    return data.select([index for index, value in enumerate(data["split"]) if value == split])


def uniform_task_mixture(
    per_task: dict[str, Dataset],
    split: str = "train",
    seed: int = 0,
    stopping_strategy: str = "all_exhausted",
) -> Dataset:
    """One ``split`` of all tasks, interleaved so every row is drawn from a task chosen uniformly.

    Consecutive rows (hence every batch, in expectation) sample tasks with equal probability whatever
    their sizes; with ``"all_exhausted"`` small tasks are repeated until the largest has been seen once.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    parts = [_split_rows(data, split) for data in per_task.values()]
    parts = [part for part in parts if part.num_rows]
    if not parts:
        raise ValueError(f"No {split!r} rows in any task.")
    return interleave_datasets(
        parts, probabilities=[1 / len(parts)] * len(parts), seed=seed, stopping_strategy=stopping_strategy
    )


def build_instruction_dataset(
    tasks: list[str] | None = None,
    data_dir: str | Path | None = None,
    max_per_class: int | Literal["default"] | None = "default",
    stopping_strategy: str = "all_exhausted",
    **config: object,
) -> DatasetDict:
    """Everything in one call (the ``--dataset module:function`` entry of the SFT recipe): loads the tasks'
    real data, builds their rows and returns ``train`` (tasks interleaved uniformly) and ``test`` (every test
    row, task after task).

    Args:
        tasks: registry names; default all.
        data_dir, max_per_class: passed to :func:`~chatnt.tasks.registry.load_task`.
        stopping_strategy: see :func:`uniform_task_mixture`.
        **config: fields of :class:`InstructionConfig` (``seed``, ``decimals``, ...); ``seed`` also seeds the
            loaders' capping and the interleaving.

    Example:
        >>> rows = build_instruction_dataset(["core_promoter", "gc_content"], max_per_class=50, decimals=1)
        >>> sorted(rows)
        ['test', 'train']
    """
    config = InstructionConfig(**config)
    return _train_and_test(load_tasks(tasks, data_dir, max_per_class, config.seed), config, stopping_strategy)


def build_hub_instruction_dataset(
    sources: dict[str, dict], stopping_strategy: str = "all_exhausted", **config: object
) -> DatasetDict:
    """:func:`build_instruction_dataset` from Hub datasets instead of ``../shared/data`` (for users online,
    e.g. the full GUE training sets where the offline DNAHL halves hold 79-140 records per task).

    Args:
        sources: registry task name -> keyword arguments of :func:`~chatnt.tasks.registry.load_hub_task`
            (``dataset_id``, ``config_name``, ``revision``, and the column mapping: ``sequence_column``,
            ``label_column``, ``id_column``, ``split_names``). Integer labels map to the task's labels BY INDEX:
            check the dataset card's label order against ``get_task(name).labels``.
        stopping_strategy, **config: as in :func:`build_instruction_dataset`.

    Example (online; the recipe's ``--dataset`` / ``--builder_kwargs``)::

        --dataset chatnt.tasks.instruction_data:build_hub_instruction_dataset --builder_kwargs \
            '{"sources": {"core_promoter": {"dataset_id": "leannmlindsey/GUE", "config_name": "prom_core_all"}}}'
    """
    config = InstructionConfig(**config)
    task_data = {}
    for task, source in sources.items():
        source = dict(source)
        if "dataset_id" not in source:
            raise ValueError(f"sources[{task!r}] needs a dataset_id (and usually a config_name).")
        task_data[task] = load_hub_task(source.pop("dataset_id"), get_task(task), **source)
    return _train_and_test(task_data, config, stopping_strategy)


def _train_and_test(task_data: dict[str, Dataset], config: InstructionConfig, stopping_strategy: str) -> DatasetDict:
    per_task = build_instruction_datasets(task_data, config)
    test_parts = [_split_rows(data, "test") for data in per_task.values()]
    return DatasetDict(
        {
            "train": uniform_task_mixture(per_task, "train", config.seed, stopping_strategy),
            "test": concatenate_datasets([part for part in test_parts if part.num_rows]),
        }
    )


def to_alpaca(rows: Dataset) -> Dataset:
    """The same conversations in Alpaca form for DNAHLM: one ``{instruction, input, output}`` per turn.

    The sequence goes in ``input``. A single sequence's tag becomes "the input sequence"; two sequences
    keep their tags and ``input`` holds one ``@name: SEQUENCE`` line each. ``task`` and ``split`` are kept
    so DNAHLM trains on ``train`` only.
    """
    records = []
    for row in rows:
        names = [item["name"] for item in row["sequences"]]
        if len(names) == 1:
            input_text = row["sequences"][0]["sequence"]
        else:
            input_text = "\n".join(f"@{item['name']}: {item['sequence']}" for item in row["sequences"])
        user = [m["content"] for m in row["messages"] if m["role"] == "user"]
        assistant = [m["content"] for m in row["messages"] if m["role"] == "assistant"]
        for question, answer in zip(user, assistant, strict=True):
            if len(names) == 1:
                # Capitalised where the tag opens the question.
                question = re.sub(rf"@{re.escape(names[0])}\b",
                                  lambda tag: "The input sequence" if tag.start() == 0 else "the input sequence", question)
            records.append(
                {
                    "instruction": question,
                    "input": input_text,
                    "output": answer,
                    "task": row["task"],
                    "split": row["split"],
                }
            )
    return Dataset.from_list(records, features=ALPACA_FEATURES)


def normalize_answer(task: str | TaskSpec, text: str, reference: str) -> str:
    """Maps a generated answer to the canonical form of ``reference`` (an entry of ``answers``), so that
    exact match against the reference is the right test; an unreadable answer gives ``""``.

    Example:
        >>> normalize_answer("core_promoter", "I would say Non-promoter.", "promoter")
        'Non-promoter'
        >>> normalize_answer("gc_content", "Roughly 41.5%.", "40.00")
        '41.50'
    """
    spec = get_task(task) if isinstance(task, str) else task
    if reference.startswith("@"):
        tags = re.findall(r"@\w+", text)
        return tags[0] if len(set(tags)) == 1 else ""
    if reference in ("yes", "no"):
        words = set(re.findall(r"\b(yes|no)\b", text.lower()))
        return words.pop() if len(words) == 1 else ""
    parsed = parse_answer(text, spec)  # label-, negation- and echo-aware (chatnt.tasks.answer_parsing)
    if parsed is None:
        return ""
    if spec.type == "regression":
        return f"{parsed:.{len(reference.partition('.')[2])}f}"
    if spec.type == "multilabel":
        return ", ".join(parsed) or NO_LABELS
    return parsed


__all__ = [
    "ANSWERS",
    "PHRASINGS",
    "ROW_FEATURES",
    "InstructionConfig",
    "TaskPhrasing",
    "build_hub_instruction_dataset",
    "build_instruction_dataset",
    "build_instruction_datasets",
    "build_task_rows",
    "normalize_answer",
    "system_message",
    "to_alpaca",
    "uniform_task_mixture",
]

"""The RNA-GPT recipe on ChatNT: RNA encoder + linear projection + a chat LLM, trained in two stages.

RNA-GPT (see ``../shared/docs/REFERENCE.md``) projects every encoder token of an RNA into the LLM's
embedding space with one ``nn.Linear`` (ChatNT's ``projector_type="linear"``), then:

* **Stage 1, alignment.** The user turn is only the projected RNA (the ``@rna`` reference: no question,
  no system message); the target is the free-text description of that RNA. Encoder and decoder are
  frozen, the projection trains.
* **Stage 2, instruction tuning.** The descriptions are decomposed into short question/answer pairs
  (organism, rRNA type, partial or complete, gene or rRNA, strain/clone/isolate); the model starts from
  the stage-1 checkpoint, the encoder stays frozen, the projection trains in full and the decoder
  through LoRA (r=8 on ``q_proj``/``v_proj``, as the public RNA-GPT look-alikes do).

Data: the real rRNA records of ``../shared/data/rrna`` (16S, 18S, 23S/28S). A FASTA header is
``>ACCESSION original GenBank title``; the title, without its trailing ``N bp`` record length, is the
description. Records are split train/test by a hash of the accession (test ~10%), so the copies of a
multi-copy operon (one accession, several records) always fall on the same side.

Sequence length: rRNA is 0.9-5 kb, and the linear projection gives the decoder one vector per 6-mer
token, so a full 16S (~1.4 kb) is ~240 decoder positions and a 28S ~500. On a CPU the recipe keeps the
first ``--window`` nucleotides (600 by default: 100 decoder vectors, the 5' end, which holds the V1-V3
regions of a 16S); ``--window 0`` keeps whole molecules (on a GPU, with an encoder that reads them).

    python -m chatnt.training.rnagpt --stage 1 --preset mini --output_dir runs/rnagpt-mini-stage1
    python -m chatnt.training.rnagpt --stage 2 --preset mini --stage1_dir runs/rnagpt-mini-stage1 \\
        --output_dir runs/rnagpt-mini-stage2

Presets (any flag overrides them):

* ``mini``: our NT v2 mini encoder (``checkpoints/nt-mini-encoder``, or ``--encoder PATH``) +
  SmolLM2-135M-Instruct (built offline by :func:`chatnt.offline_models.smollm2_instruct`); fp32 on a
  CPU, no activation checkpointing, 2,000 records per file.
* ``paper``: the published setting, for GPUs (documented, not run here): an RNA-FM-like encoder
  (ESM layout, 12 layers, hidden 640, one token per nucleotide; pass its path or Hub id with
  ``--encoder``) + Llama-3-8B-Instruct, every record, the first 1,022 nt (RNA-FM's 1,024 positions),
  bf16, activation checkpointing.

Each output directory holds the model (stage 1: ``save_pretrained(include_text_model=False)``, i.e.
encoder, projection and a checksummed decoder reference; stage 2: the PEFT adapter, i.e. the LoRA
weights and the trained projection, over the stage-1 checkpoint), the processor, and
``rnagpt_training.json``: the stage, which parameters trained, the data and the arguments.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from chatnt.fasta import iter_fasta
from chatnt.modeling_chatnt import ChatNTForConditionalGeneration
from chatnt.offline_models import resolve_decoder
from chatnt.processing_chatnt import ChatNTProcessor
from chatnt.training.chatnt_generation_eval import subset_per_task
from chatnt.training.chatnt_sft import ChatNTScriptArguments, build_sft_trainer, lora_config, train_chatnt
from chatnt.tasks.registry import hash_split, stable_hash
from chatnt.tasks.instruction_data import ROW_FEATURES as INSTRUCTION_ROW_FEATURES
from chatnt.training.presets import parse_with_preset
from datasets import Dataset, Features, Value
from peft import PeftModel
from transformers import IntervalStrategy, set_seed
from trl import SFTConfig

RRNA_FILES = {
    "16S": "rrna/rrna_16S_ssu_prokaryote.fa.gz",
    "18S": "rrna/rrna_18S_ssu_eukaryote.fa.gz",
    "LSU": "rrna/rrna_lsu_23S_28S.fa.gz",
}
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_WINDOW = 600
TEST_FRACTION = 0.1
# The sequence's name in every row: the user turn refers to it as ``@rna``.
SEQUENCE_NAME = "rna"
STAGE1_TASK = "rna_description"

# The instruction-row schema of ``chatnt.tasks.instruction_data`` plus the record's accession (the
# collator ignores it; it lets a user trace a row, or an error, back to its GenBank record).
ROW_FEATURES = Features({**INSTRUCTION_ROW_FEATURES, "accession": Value("string")})

PRESETS = {
    "mini": {
        "encoder": "checkpoints/nt-mini-encoder",
        "decoder": "smollm2-135m-instruct",
        "data": {"max_records_per_file": 2000, "window": DEFAULT_WINDOW},
        "training": {
            "num_train_epochs": 1,
            "per_device_train_batch_size": 8,
            "learning_rate": 1e-3,
            "lr_scheduler_type": "cosine",
            "warmup_steps": 20,
            "weight_decay": 0.0,
            "max_grad_norm": 1.0,
            "logging_steps": 10,
            "eval_strategy": "steps",
            "eval_steps": 200,
            "save_steps": 200,
            "save_total_limit": 2,
            # SFTConfig defaults to bf16 and activation checkpointing; neither pays on a CPU.
            "bf16": False,
            "activation_checkpointing": False,
        },
    },
    "paper": {
        "encoder": None,  # an RNA-FM-like checkpoint, given with --encoder
        "decoder": "meta-llama/Meta-Llama-3-8B-Instruct",
        # RNA-FM reads at most 1024 tokens (one per nucleotide, plus CLS and EOS).
        "data": {"max_records_per_file": 0, "window": 1022},
        "training": {
            "num_train_epochs": 1,
            "per_device_train_batch_size": 4,
            "gradient_accumulation_steps": 8,
            "learning_rate": 1e-4,
            "lr_scheduler_type": "cosine",
            "warmup_steps": 200,
            "weight_decay": 0.0,
            "max_grad_norm": 1.0,
            "logging_steps": 20,
            "eval_strategy": "steps",
            "eval_steps": 1000,
            "save_steps": 1000,
            "save_total_limit": 3,
            "bf16": True,
            "activation_checkpointing": True,
            "dataloader_num_workers": 4,
        },
    },
}


# ---------------------------------------------------------------------------------------------------
# Records: (accession, description, sequence, split) from the rRNA FASTA files
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RnaRecord:
    """One rRNA record: ``source`` is the file's key in :data:`RRNA_FILES` (``16S``, ``18S`` or ``LSU``)."""

    accession: str
    description: str
    sequence: str
    source: str
    split: str


_RECORD_LENGTH = re.compile(r"\s+\d+\s+bp$")


def description_from_title(title: str) -> str:
    """The GenBank title without the ``N bp`` record length the BLAST dump appended.

    Example:
        >>> description_from_title("Pseudomonas sp. L1-5 16S ribosomal RNA gene, partial sequence. 1403 bp")
        'Pseudomonas sp. L1-5 16S ribosomal RNA gene, partial sequence.'
    """
    return _RECORD_LENGTH.sub("", title.strip())


def accession_split(accession: str, test_fraction: float = TEST_FRACTION) -> str:
    """``"train"`` or ``"test"`` from the accession alone, so all records of one accession share a side."""
    return hash_split(f"rnagpt:{accession}", test_fraction)


def _read_headers_and_sequences(path: Path):
    # Ids repeat: one accession per copy of a multi-copy operon.
    for record in iter_fasta(path, unique_ids=False):
        yield record.header, record.sequence


def _cap_by_accession(records: list[RnaRecord], cap: int, seed: int) -> list[RnaRecord]:
    """The records of the first accessions in a seeded hash order, ``cap`` records or just over (the last
    accession's copies are kept together), in file order."""
    accessions = sorted({record.accession for record in records}, key=lambda accession: stable_hash(f"{seed}:{accession}"))
    per_accession = Counter(record.accession for record in records)
    chosen, count = set(), 0
    for accession in accessions:
        if count >= cap:
            break
        chosen.add(accession)
        count += per_accession[accession]
    return [record for record in records if record.accession in chosen]


def read_rrna_records(
    data_dir: str | Path = DEFAULT_DATA_DIR,
    sources: tuple[str, ...] = tuple(RRNA_FILES),
    max_records_per_file: int | None = 2000,
    window: int | None = DEFAULT_WINDOW,
    test_fraction: float = TEST_FRACTION,
    seed: int = 0,
) -> list[RnaRecord]:
    """The rRNA records of the shared data as ``(accession, description, sequence, source, split)``.

    Args:
        data_dir: the folder holding ``rrna/`` (``../shared/data``).
        sources: which files, by their keys in :data:`RRNA_FILES`.
        max_records_per_file: keep at most this many records per file (``None``: all). The kept ones are
            those of the first accessions in a seeded hash order, so the choice is a spread-out sample of
            the file, does not depend on file order, and keeps every copy of a chosen accession.
        window: keep the first ``window`` nucleotides of each sequence (``None`` or 0: the whole molecule).
        test_fraction: share of accessions in the test split.
        seed: seed of the capping order (the split itself depends on the accession only).

    Records repeating an earlier (accession, kept sequence) pair (identical operon copies) are dropped:
    they would only repeat a row.
    """
    if max_records_per_file is not None and max_records_per_file < 1:
        raise ValueError(f"max_records_per_file must be at least 1 or None, got {max_records_per_file}.")
    if window is not None and window < 0:
        raise ValueError(f"window must be a positive number of nucleotides, 0 or None (whole molecule), got {window}.")
    unknown = set(sources) - set(RRNA_FILES)
    if unknown:
        raise ValueError(f"Unknown rRNA source(s) {sorted(unknown)}; choose among {sorted(RRNA_FILES)}.")
    records = []
    for source in sources:
        path = Path(data_dir) / RRNA_FILES[source]
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found. Pass --data_dir (data_dir=) pointing at the folder that holds rrna/ "
                "(../shared/data, see its README)."
            )
        seen, file_records = set(), []
        for header, sequence in _read_headers_and_sequences(path):
            accession, *title = header.split(None, 1)  # the first word, whatever the whitespace, as chatnt.fasta
            title = title[0] if title else ""
            sequence = sequence[:window] if window else sequence
            if (accession, sequence) in seen:
                continue
            seen.add((accession, sequence))
            file_records.append(
                RnaRecord(accession, description_from_title(title), sequence, source, accession_split(accession, test_fraction))
            )
        if max_records_per_file is not None:
            file_records = _cap_by_accession(file_records, max_records_per_file, seed)
        records.extend(file_records)
    return records


# ---------------------------------------------------------------------------------------------------
# Description parsing: the facts stage-2 questions ask about
# ---------------------------------------------------------------------------------------------------

LSU_TYPES = ("23S", "25S", "26S", "28S")
SSU_TYPES = ("16S", "18S")
_RRNA_TYPE = re.compile(r"(?<![\w.])(5\.8S|5S|16S|18S|23S|25S|26S|28S)(?![\w])")
_PARTIAL = re.compile(r"\bpartial\b|\bpart\.", re.IGNORECASE)
# "complete" about the rRNA, not "complete genome" (which says nothing about the rRNA's own extent).
_COMPLETE = re.compile(r"\bcomplete\b(?! genome)", re.IGNORECASE)
_GENOME = re.compile(r"\bgenome\b|\bchromosome\b|\bcontig\b|\bshotgun\b|\bscaffold\b|\bctg", re.IGNORECASE)
_GENE = re.compile(r"\b(genes?|rDNA|operons?)\b", re.IGNORECASE)
_RRNA_MOLECULE = re.compile(r"\b(rRNA|ribosomal RNA)\b", re.IGNORECASE)
_QUALIFIER = re.compile(r"\b(strain|clone|isolate|voucher|str\.)\s*:?\s*(?P<value>[^,;()]+)", re.IGNORECASE)
# Words that end a strain/clone identifier (what follows describes the gene, not the clone).
_IDENTIFIER_END = re.compile(
    r"\s(?:\d+(?:\.\d+)?S\b|genes?\b|small\b|large\b|ssu\b|lsu\b|ribosomal\b|rRNA\b|rDNA\b|partial\b|complete\b|"
    r"clone\b|isolate\b|strain\b|voucher\b|nuclear\b|internal\b|from\b|and\b|whole\b|genomic\b|DNA\b)",
)
# Lower-case words that start the gene part of a title, never an epithet.
_NOT_EPITHET = {
    "gene", "genes", "partial", "complete", "nuclear", "small", "large", "ribosomal", "ssu", "lsu", "from",
    "clone", "strain", "isolate", "voucher", "genomic", "whole", "and", "for", "chromosome", "contig", "rrna",
    "str.", "subsp.", "var.", "serovar", "pv.", "bv.", "genome", "dna",
}
_ABBREVIATED = re.compile(r"^([A-Z])\.\s?([a-z][a-z-]+)\b")
# Environmental names: "Uncultured gamma proteobacterium", "unidentified cytophagales".
_UNNAMED = re.compile(r"^([Uu]ncultured|[Uu]nidentified)\s+")


@dataclass(frozen=True)
class RnaFacts:
    """What a GenBank rRNA title states, as parsed by :func:`parse_description` (``None``: not stated).

    Attributes:
        organism: genus + species epithet (``"Pseudomonas sp."``, ``"B. japonicum"``), or the group of an
            uncultured or unidentified organism (``"Uncultured marine group II euryarchaeote"``).
        rrna_type: the type of the molecule itself: 16S, 18S, 23S, 25S, 26S or 28S.
        completeness: ``"partial"`` or ``"complete"`` (not set from "complete genome", which says nothing
            about the rRNA).
        molecule: ``"gene"`` (an rRNA gene / genomic DNA), ``"rRNA"`` (the RNA itself) or ``"genome"``
            (cut from a genome, chromosome or contig record).
        qualifier: ``(kind, identifier)``, kind one of strain, clone, isolate, voucher.
    """

    organism: str | None = None
    rrna_type: str | None = None
    completeness: str | None = None
    molecule: str | None = None
    qualifier: tuple[str, str] | None = None


def _parse_organism(description: str) -> str | None:
    text = description.strip()
    abbreviated = _ABBREVIATED.match(text)
    if abbreviated:  # old titles abbreviate the genus: "B.japonicum"
        return f"{abbreviated.group(1)}. {abbreviated.group(2)}"
    if text.startswith("Candidatus "):  # a provisional name: the genus and species follow
        organism = _parse_organism(text[len("Candidatus ") :])
        return f"Candidatus {organism}" if organism else None
    unnamed = _UNNAMED.match(text)
    words = text[unnamed.end() :].replace(",", " ").split() if unnamed else text.replace(",", " ").split()
    if not words:
        return None
    if unnamed:
        # "Uncultured gamma proteobacterium", "Uncultured Brevibacillus sp.": lower-case group words, or
        # one genus and "sp.", up to the first identifier or gene word.
        kept = []
        for word in words:
            if word.lower() in _NOT_EPITHET or _RRNA_TYPE.fullmatch(word) or not re.fullmatch(r"[A-Za-z][a-z-]*\.?|[IVX]+", word):
                break
            kept.append(word)
            if word == "sp.":
                break
        return " ".join([unnamed.group(1).capitalize(), *kept]) if kept else None
    genus, rest = words[0], words[1:]
    if not re.fullmatch(r"[A-Z][a-z]+(-[a-z]+)?", genus) or not rest:
        return None
    if rest[0] in ("cf.", "aff.") and len(rest) > 1:
        modifier, rest = rest[0] + " ", rest[1:]
    else:
        modifier = ""
    epithet = rest[0]
    if epithet == "sp." or (re.fullmatch(r"[a-z][a-z-]+", epithet) and epithet not in _NOT_EPITHET):
        return f"{genus} {modifier}{epithet}"
    return None


def _parse_rrna_type(description: str, source: str | None) -> str | None:
    # 5S and 5.8S are matched so that they are never mistaken for the molecule's type: no file holds
    # them; ITS and operon titles name them beside the 16S/18S/LSU gene that the sequence is.
    stated = list(dict.fromkeys(_RRNA_TYPE.findall(description)))
    if source in ("16S", "18S"):
        # Selected by these very words (see the data README), so the file names the type.
        return source if source in stated else None
    candidates = {
        "LSU": [kind for kind in stated if kind in LSU_TYPES],
        None: [kind for kind in stated if kind in SSU_TYPES + LSU_TYPES],
    }.get(source, [])
    # Operon titles name several rRNAs ("16S, 23S, 5S"); the type is stated only when one fits the file.
    return candidates[0] if len(candidates) == 1 else None


def _parse_qualifier(description: str) -> tuple[str, str] | None:
    match = _QUALIFIER.search(description)
    if match is None:
        return None
    kind = {"str.": "strain"}.get(match.group(1).lower(), match.group(1).lower())
    value = _IDENTIFIER_END.split(" " + match.group("value").strip(), maxsplit=1)[0].strip().rstrip(".").strip()
    return (kind, value) if value else None


def parse_description(description: str, source: str | None = None) -> RnaFacts:
    """The facts a GenBank rRNA title states (see :class:`RnaFacts`); unparsed facts are ``None``.

    Args:
        description: the title (with or without the trailing ``N bp``).
        source: the record's file (``16S``, ``18S`` or ``LSU``), which tells which of the rRNA types that
            an operon title lists is the sequence's own.

    Example:
        >>> parse_description("Uncultured bacterium clone C14_d02_2 16S ribosomal RNA gene, partial sequence.", "16S")
        RnaFacts(organism='Uncultured bacterium', rrna_type='16S', completeness='partial', molecule='gene', qualifier=('clone', 'C14_d02_2'))
    """
    description = description_from_title(description)
    partial, complete = bool(_PARTIAL.search(description)), bool(_COMPLETE.search(description))
    # "complete and partial sequence" (operon records) leaves the rRNA's own extent unstated.
    completeness = "partial" if partial and not complete else "complete" if complete and not partial else None
    if _GENOME.search(description):
        molecule = "genome"
    elif _GENE.search(description):
        molecule = "gene"
    elif _RRNA_MOLECULE.search(description):
        molecule = "rRNA"
    else:
        molecule = None
    return RnaFacts(
        organism=_parse_organism(description),
        rrna_type=_parse_rrna_type(description, source),
        completeness=completeness,
        molecule=molecule,
        qualifier=_parse_qualifier(description),
    )


# ---------------------------------------------------------------------------------------------------
# Rows: stage 1 (alignment) and stage 2 (questions and answers)
# ---------------------------------------------------------------------------------------------------


def _row(task: str, question: str, answer: str, record: RnaRecord) -> dict:
    return {
        "task": task,
        "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
        "sequences": [{"name": SEQUENCE_NAME, "sequence": record.sequence}],
        "split": record.split,
        "answers": [answer],
        "record_ids": [record.accession],
        "accession": record.accession,
    }


def alignment_rows(records: list[RnaRecord]) -> Dataset:
    """Stage-1 rows: the user turn is only ``@rna`` (no question, no system message), the answer the description."""
    rows = [_row(STAGE1_TASK, f"@{SEQUENCE_NAME}", record.description, record) for record in records]
    return Dataset.from_list(rows, features=ROW_FEATURES)


@dataclass(frozen=True)
class QuestionKind:
    """One stage-2 question: its train and test phrasing pools (disjoint) and the answer sentence.

    ``{rna}`` in a question becomes the ``@rna`` reference; ``answer`` is formatted with the fact's
    fields (``value``, and ``kind`` for the qualifier).
    """

    train: tuple[str, ...]
    test: tuple[str, ...]
    answer: str

    def __post_init__(self):
        shared = set(self.train) & set(self.test)
        if shared:
            raise ValueError(f"Train and test phrasings must be disjoint; both pools hold {sorted(shared)}.")


QUESTIONS = {
    "organism": QuestionKind(
        train=(
            "Which organism does {rna} come from?",
            "From which species was {rna} sequenced?",
            "Name the organism this ribosomal RNA belongs to: {rna}",
        ),
        test=(
            "What is the source organism of {rna}?",
            "{rna} Which species is this RNA from?",
        ),
        answer="It comes from {value}.",
    ),
    "rrna_type": QuestionKind(
        train=(
            "What type of ribosomal RNA is {rna}?",
            "Is {rna} a 16S, 18S, 23S, 25S, 26S or 28S rRNA?",
            "Classify {rna} by its rRNA type.",
        ),
        test=(
            "Which rRNA is {rna}?",
            "{rna} What kind of ribosomal RNA is this, by sedimentation coefficient?",
        ),
        answer="It is a {value} ribosomal RNA.",
    ),
    "completeness": QuestionKind(
        train=(
            "Is {rna} a complete or a partial sequence?",
            "Does {rna} cover the whole molecule or only part of it?",
            "Was the full length of {rna} sequenced?",
        ),
        test=(
            "Is the sequence {rna} complete?",
            "{rna} Partial or complete?",
        ),
        answer="It is a {value} sequence.",
    ),
    "molecule": QuestionKind(
        train=(
            "Is {rna} recorded as an rRNA gene, as the rRNA itself, or cut from a genome record?",
            "What kind of GenBank record does {rna} come from: an rRNA gene, an rRNA or a genome?",
            "Was {rna} submitted as a gene, as an RNA, or as part of a genome?",
        ),
        test=(
            "Which kind of record holds {rna}: a gene, an rRNA or a genome?",
            "{rna} Is this from a gene record, an rRNA record or a genome record?",
        ),
        answer="{value}",
    ),
    "qualifier": QuestionKind(
        train=(
            "Which strain, clone or isolate is {rna} from?",
            "Give the strain, clone or isolate name of {rna}.",
            "What is the culture or clone identifier of {rna}?",
        ),
        test=(
            "Which isolate, strain or clone does {rna} belong to?",
            "{rna} What strain or clone is this?",
        ),
        answer="It is from {kind} {value}.",
    ),
}
MOLECULE_ANSWERS = {
    "gene": "It is an rRNA gene.",
    "rRNA": "It is the rRNA itself.",
    "genome": "It was cut from a genome record.",
}


def question_answers(facts: RnaFacts) -> list[tuple[str, str]]:
    """``(question kind, answer sentence)`` for every fact that ``facts`` holds, in :data:`QUESTIONS` order."""
    pairs = []
    for kind, question in QUESTIONS.items():
        value = getattr(facts, kind)
        if value is None:
            continue
        if kind == "molecule":
            answer = MOLECULE_ANSWERS[value]
        elif kind == "organism" and _UNNAMED.match(value):
            answer = question.answer.format(value="an u" + value[1:])  # "an uncultured bacterium"
        elif kind == "qualifier":
            answer = question.answer.format(kind=value[0], value=value[1])
        else:
            answer = question.answer.format(value=value)
        pairs.append((kind, answer))
    return pairs


def instruction_rows(records: list[RnaRecord], seed: int = 0) -> Dataset:
    """Stage-2 rows: one single-turn row per (record, parsed fact), task ``rna_<fact>``.

    The question phrasing is drawn from the train or test pool of the record's split, with a seeded
    generator per record, so a row does not change when other records are added or capped away.
    """
    rows = []
    for record in records:
        rng = random.Random(stable_hash(f"{seed}:{record.accession}:{record.sequence[:32]}"))
        for kind, answer in question_answers(parse_description(record.description, record.source)):
            pool = getattr(QUESTIONS[kind], record.split)
            question = rng.choice(pool).format(rna=f"@{SEQUENCE_NAME}")
            rows.append(_row(f"rna_{kind}", question, answer, record))
    return Dataset.from_list(rows, features=ROW_FEATURES)


def parsing_coverage(records: list[RnaRecord]) -> dict[str, dict[str, float]]:
    """Per source file, the share of descriptions in which each fact was parsed."""
    by_source: dict[str, list[RnaFacts]] = {}
    for record in records:
        by_source.setdefault(record.source, []).append(parse_description(record.description, record.source))
    return {
        source: {kind: sum(getattr(f, kind) is not None for f in facts) / len(facts) for kind in QUESTIONS}
        for source, facts in by_source.items()
    }


# ---------------------------------------------------------------------------------------------------
# Models and training
# ---------------------------------------------------------------------------------------------------


@dataclass
class RnaGptArguments:
    """Which stage to run, on which parts and data."""

    stage: int = field(metadata={"help": "1: alignment (projection only); 2: instruction tuning (LoRA + projection)."})
    preset: str = field(default="mini", metadata={"help": f"Model, data and training defaults: one of {sorted(PRESETS)}."})
    encoder: str | None = field(default=None, metadata={"help": "Stage 1: encoder checkpoint (path or Hub id); preset default."})
    decoder: str | None = field(
        default=None, metadata={"help": "Stage 1: causal LM (path, Hub id, or smollm2-135m-instruct); preset default."}
    )
    stage1_dir: str | None = field(default=None, metadata={"help": "Stage 2: the stage-1 output directory to start from."})
    data_dir: str = field(default=str(DEFAULT_DATA_DIR), metadata={"help": "Folder holding rrna/ (../shared/data)."})
    max_records_per_file: int | None = field(
        default=None, metadata={"help": "Records kept per rRNA file (0: all); preset default."}
    )
    window: int | None = field(
        default=None, metadata={"help": "Keep the first N nucleotides (0: whole molecules); preset default."}
    )
    lora_r: int = field(default=8, metadata={"help": "Stage 2: LoRA rank on the decoder's q_proj/v_proj."})
    lora_alpha: int = field(default=16, metadata={"help": "Stage 2: LoRA scaling numerator."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Stage 2: dropout on the LoRA input."})
    generation_eval_per_task: int = field(
        default=8,
        metadata={"help": "Held-out rows per task, scored at every evaluation (--eval_strategy/--eval_steps; 0: none)."},
    )
    max_new_tokens: int = field(default=64, metadata={"help": "Longest generated answer in that evaluation."})

    def __post_init__(self):
        if self.stage not in (1, 2):
            raise ValueError(f"--stage must be 1 or 2, got {self.stage}.")
        if self.preset not in PRESETS:
            raise ValueError(f"Unknown preset {self.preset!r}; choose one of {sorted(PRESETS)}.")
        if self.stage == 2 and not self.stage1_dir:
            raise ValueError("Stage 2 starts from the stage-1 checkpoint: pass --stage1_dir.")
        data = PRESETS[self.preset]["data"]
        if self.max_records_per_file is None:
            self.max_records_per_file = data["max_records_per_file"]
        if self.window is None:
            self.window = data["window"]


# SmolLM2's and Qwen2's templates write a default system message ("You are a helpful AI assistant named
# SmolLM, ...") into every conversation that has none.
_DEFAULT_SYSTEM_BLOCK = re.compile(
    r"\{%-?\s*if loop\.first and messages\[0\]\['role'\] != 'system'\s*-?%\}.*?\{%-?\s*endif\s*-?%\}", re.DOTALL
)


def without_default_system_message(processor: ChatNTProcessor) -> ChatNTProcessor:
    """Make ``processor`` add no system message at all: in RNA-GPT the projected RNA is the whole input.

    Sets ``system_prompt=None`` (ChatNT's own default message) and removes from the chat template the
    block that writes a default system message when a conversation has none.

    Raises:
        ValueError: the template still writes a system turn for a conversation without one.
    """
    processor.system_prompt = None
    template = _DEFAULT_SYSTEM_BLOCK.sub("", processor.chat_template, count=1)
    probe = processor.tokenizer.apply_chat_template(
        [{"role": "user", "content": "@rna"}], chat_template=template, tokenize=False, add_generation_prompt=True
    )
    if "system" in probe:
        raise ValueError(
            f"The decoder's chat template writes a system turn into conversations that have none ({probe!r}); "
            "RNA-GPT's input is the RNA alone. Give the processor a chat template without that default."
        )
    processor.chat_template = template
    return processor


def build_stage1_model(
    encoder: str, decoder: str, trust_remote_code: bool = False
) -> tuple[ChatNTForConditionalGeneration, ChatNTProcessor]:
    """ChatNT with a linear projection around a pretrained encoder and decoder; only the projection trains.

    The processor adds no system message (see :func:`without_default_system_message`).

    Example:
        >>> model, processor = build_stage1_model("checkpoints/nt-mini-encoder", "smollm2-135m-instruct")  # doctest: +SKIP
    """
    model, processor = ChatNTForConditionalGeneration.from_encoder_decoder_pretrained(
        encoder,
        resolve_decoder(decoder),
        projector_type="linear",
        trust_remote_code=trust_remote_code,
        train_dna_encoder=False,
        train_projector=True,
        train_text_model=False,
    )
    return model, without_default_system_message(processor)


def load_stage1(stage1_dir: str, trust_remote_code: bool = False) -> tuple[ChatNTForConditionalGeneration, ChatNTProcessor]:
    """The stage-1 model (decoder reassembled from its reference) with the encoder and decoder frozen."""
    model = ChatNTForConditionalGeneration.from_pretrained(stage1_dir, trust_remote_code=trust_remote_code)
    # A decoder-free checkpoint is reassembled without recording where it came from; PEFT writes this
    # path into the stage-2 adapter's config as its base model.
    model.name_or_path = model.config.name_or_path = str(stage1_dir)
    if model.config.projector_type != "linear":
        raise ValueError(f"{stage1_dir} has a {model.config.projector_type!r} projection; RNA-GPT uses 'linear'.")
    model.config.train_dna_encoder = model.config.train_text_model = False
    model.config.train_projector = True
    model.apply_trainable_parts()
    processor = ChatNTProcessor.from_pretrained(stage1_dir, trust_remote_code=trust_remote_code)
    return model, without_default_system_message(processor)


def load_stage2(stage2_dir: str, stage1_dir: str | None = None, trust_remote_code: bool = False):
    """The stage-2 model: the stage-1 checkpoint with the saved LoRA adapter and projection, for inference.

    Args:
        stage2_dir: the stage-2 output directory (PEFT adapter + processor).
        stage1_dir: where the stage-1 checkpoint is, if not where the adapter's config records it.
        trust_remote_code: needed when the encoder is remote code saved with the checkpoints.
    """
    adapter_config = json.loads((Path(stage2_dir) / "adapter_config.json").read_text())
    model, _ = load_stage1(stage1_dir or adapter_config["base_model_name_or_path"], trust_remote_code)
    model = PeftModel.from_pretrained(model, stage2_dir).eval()
    processor = ChatNTProcessor.from_pretrained(stage2_dir, trust_remote_code=trust_remote_code)
    return model, without_default_system_message(processor)


def trained_parameters(model) -> dict[str, int]:
    """Number of trainable parameters per top-level part (encoder, projector, decoder and their adapters)."""
    counts: Counter = Counter()
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            part = "lora" if "lora_" in name else next(
                (p for p in ("dna_encoder", "projector", "language_model", "lm_head") if p in name), "other"
            )
            counts[part] += parameter.numel()
    return dict(counts)


def _write_summary(output_dir: str, summary: dict) -> None:
    path = Path(output_dir) / "rnagpt_training.json"
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")


def run_stage1(model, processor, train_rows: Dataset, eval_rows: list[dict], args: RnaGptArguments, config: SFTConfig):
    """Align: train the projection alone on description rows; save decoder-free with the processor."""
    if any(p.requires_grad for p in model.model.dna_encoder.parameters()) or any(
        p.requires_grad for p in model.model.language_model.parameters()
    ):
        raise ValueError("Stage 1 trains the projection only; build the model with build_stage1_model.")
    sft_args = ChatNTScriptArguments(
        dataset="rnagpt",
        train_dna_encoder=False,
        lora_target="none",
        max_new_tokens=args.max_new_tokens,
    )
    trained = trained_parameters(model)
    trainer = train_chatnt(model, processor, train_rows, eval_rows, sft_args, config)
    _write_summary(config.output_dir, {"stage": 1, "trained_parameters": trained, "rows": len(train_rows), "arguments": asdict(args)})
    return trainer


def run_stage2(model, processor, train_rows: Dataset, eval_rows: list[dict], args: RnaGptArguments, config: SFTConfig):
    """Instruction-tune: LoRA on the decoder's q/v + the projection in full, encoder frozen; save the adapter.

    Not :func:`~chatnt.training.chatnt_sft.train_chatnt`: it merges LoRA into the decoder before saving,
    which stores a whole decoder, where RNA-GPT's stage 2 ships the adapter over the stage-1 checkpoint.
    """
    if len(train_rows) == 0:
        raise ValueError("No training row: no description yielded a question.")
    set_seed(config.seed)
    peft_config = lora_config("decoder", args.lora_r, args.lora_alpha, args.lora_dropout, train_dna_encoder=False)
    trainer = build_sft_trainer(model, processor, train_rows, eval_rows, config, peft_config, args.max_new_tokens)
    trained = trained_parameters(trainer.model)
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    if trainer.accelerator.is_main_process:
        trainer.accelerator.unwrap_model(trainer.model).save_pretrained(config.output_dir)
        processor.save_pretrained(config.output_dir)
        _write_summary(
            config.output_dir,
            {
                "stage": 2,
                "base": args.stage1_dir,
                "trained_parameters": trained,
                "lora_target_modules": peft_config.target_modules,
                "modules_to_save": peft_config.modules_to_save,
                "rows": len(train_rows),
                "arguments": asdict(args),
            },
        )
    return trainer


def parse_args(argv: list[str] | None = None) -> tuple[RnaGptArguments, SFTConfig]:
    """Parse the RNA-GPT and SFT arguments, with the chosen preset's training values as defaults."""
    args, config = parse_with_preset(
        argv, (RnaGptArguments, SFTConfig), {name: preset["training"] for name, preset in PRESETS.items()},
        remove_unused_columns=False, dataset_kwargs={"skip_prepare_dataset": True},
    )
    if not args.generation_eval_per_task:
        # No held-out rows to score, so no evaluation schedule (train_chatnt refuses one without rows).
        config.eval_strategy = IntervalStrategy.NO
    return args, config


def main(argv: list[str] | None = None) -> None:
    args, config = parse_args(argv)
    if args.stage == 1:
        preset = PRESETS[args.preset]
        encoder = args.encoder or preset["encoder"]
        if encoder is None:
            raise ValueError(f"Preset {args.preset!r} names no encoder checkpoint; pass --encoder.")
        if args.encoder is None and not Path(encoder).is_dir():
            raise FileNotFoundError(
                f"The {args.preset} preset's encoder {encoder!r} is not there: pre-train one (python -m "
                "chatnt.training.encoder_pretraining --preset mini) and pass it with --encoder PATH, or pass a Hub id."
            )
    records = read_rrna_records(
        args.data_dir, max_records_per_file=args.max_records_per_file or None, window=args.window or None
    )
    rows = alignment_rows(records) if args.stage == 1 else instruction_rows(records, seed=config.seed)
    train_rows = rows.filter(lambda row: row["split"] == "train")
    test_rows = rows.filter(lambda row: row["split"] == "test")
    eval_rows = subset_per_task(test_rows, args.generation_eval_per_task, seed=config.seed) if args.generation_eval_per_task else []
    print(f"stage {args.stage}: {len(records)} records, train rows {len(train_rows)}, test rows {len(test_rows)}")
    if args.stage == 1:
        model, processor = build_stage1_model(encoder, args.decoder or preset["decoder"], config.trust_remote_code)
        run_stage1(model, processor, train_rows, eval_rows, args, config)
    else:
        model, processor = load_stage1(args.stage1_dir, config.trust_remote_code)
        run_stage2(model, processor, train_rows, eval_rows, args, config)


if __name__ == "__main__":
    main()

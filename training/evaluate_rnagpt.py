"""The RNA-GPT evaluation table: free-text rRNA descriptions by three systems, scored against GenBank's.

Every system describes the same held-out rRNA records (``split == "test"`` in
:func:`chatnt.training.rnagpt.read_rrna_records`, read with the stage-1 run's own ``--window`` and
``--max_records_per_file``, so they are records the recipe kept out of training), and every answer is
scored against the record's description (its GenBank title):

* ``raw_llm``: the decoder alone, a plain causal LM with its tokenizer's chat template (and that
  template's own default system message, as the LLM is normally used), asked
  ``"Describe this RNA sequence: ACGU..."``. This is the issue's text baseline: the LLM given the raw
  sequence as text. It reads the same window of nucleotides as the models, written as RNA (``T`` ->
  ``U``): the question speaks of an RNA, and the ChatNT models see the identical bases (their
  tokenizer reads ``U`` as ``T``).
* ``stage1``: the stage-1 ChatNT model (encoder + linear projection + decoder); the user turn is only
  the ``@rna`` reference and there is no system message, exactly as in stage-1 training
  (:func:`~chatnt.training.rnagpt.alignment_rows`).
* ``stage2``: stage 1 + the stage-2 LoRA adapter and projection, with the same prompt. Stage 2 was
  trained on short question/answer pairs, not on descriptions, so it is also scored (``--qa_per_task``)
  on the held-out questions of :func:`~chatnt.training.rnagpt.instruction_rows` for the same records:
  exact match up to case and closing punctuation.

Scores per system, means over records: ROUGE-1/2/L F-measure and sentence-embedding precision, recall
and F1 with all-MiniLM-L6-v2 (:mod:`chatnt.evaluation.metrics`), the number of records and the mean
answer length in words.

    python -m chatnt.training.evaluate_rnagpt --stage1 runs/rnagpt-mini-stage1 --stage2 runs/rnagpt-mini-stage2 \\
        --bf16 --output_dir runs/eval-rnagpt-mini

writes ``predictions.jsonl`` (system, accession, source, prompt, reference, prediction), ``metrics.json``,
``table.md`` and ``table.csv`` (one row per system), and ends with one ``key: value`` line per headline
figure (``raw_llm_rouge_l: 0.123``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
from collections import defaultdict
from pathlib import Path

import torch
from chatnt.decoder_sources import decoder_location, reference_source
from chatnt.evaluation.metrics import embedding_similarity, rouge_scores
from chatnt.offline_models import resolve_decoder
from chatnt.processing_chatnt import VICUNA_CHAT_TEMPLATE
from chatnt.training.chatnt_collator import row_sequences
from chatnt.training.chatnt_generation_eval import (
    generate_answers,
    is_exact_match,
    parse_answer,
    subset_per_task,
)
from chatnt.tasks.registry import stable_hash
from chatnt.training.rnagpt import (
    DEFAULT_DATA_DIR,
    PRESETS,
    RRNA_FILES,
    SEQUENCE_NAME,
    RnaRecord,
    instruction_rows,
    load_stage1,
    load_stage2,
    read_rrna_records,
)
from tqdm.auto import tqdm

SYSTEMS = ("raw_llm", "stage1", "stage2")
RAW_LLM_QUESTION = "Describe this RNA sequence: {sequence}"
STAGE_PROMPT = f"@{SEQUENCE_NAME}"
DEFAULT_MAX_EXAMPLES = 60
DEFAULT_QA_PER_TASK = 8
# Stage-2 answers are one short sentence ("It comes from Bacillus anthracis.").
QA_MAX_NEW_TOKENS = 32
# Metric keys of metrics.json and the table's column headers, in table order.
TABLE_COLUMNS = {
    "rouge1": "ROUGE-1",
    "rouge2": "ROUGE-2",
    "rougeL": "ROUGE-L",
    "embedding_precision": "Emb-P",
    "embedding_recall": "Emb-R",
    "embedding_f1": "Emb-F1",
    "n": "n",
    "mean_answer_words": "mean words",
}
# Headline names of the metric keys (``stage1_rouge_l: ...``).
HEADLINE_NAMES = {
    "rouge1": "rouge_1",
    "rouge2": "rouge_2",
    "rougeL": "rouge_l",
    "embedding_precision": "embedding_precision",
    "embedding_recall": "embedding_recall",
    "embedding_f1": "embedding_f1",
    "n": "n",
    "mean_answer_words": "mean_answer_words",
}
TRAINING_SUMMARY = "rnagpt_training.json"


# ---------------------------------------------------------------------------------------------------
# Which records: the stage-1 run's held-out split
# ---------------------------------------------------------------------------------------------------


def stage1_data_settings(stage1_dir: str | Path | None) -> dict:
    """``max_records_per_file`` and ``window`` as the stage-1 run read its records.

    They come from the run's ``rnagpt_training.json``; without one (or without a stage-1 directory) the
    ``mini`` preset's values, which is what the recipe uses unless told otherwise.

    Args:
        stage1_dir: the stage-1 output directory, or ``None``.

    Returns:
        ``{"max_records_per_file": int, "window": int, "source": str}`` (0 means no cap / whole molecules;
        ``source`` says where the values came from).
    """
    preset = PRESETS["mini"]["data"]
    summary_path = Path(stage1_dir) / TRAINING_SUMMARY if stage1_dir else None
    if summary_path is None or not summary_path.is_file():
        return {**preset, "source": "mini preset (no rnagpt_training.json)"}
    arguments = json.loads(summary_path.read_text(encoding="utf-8")).get("arguments", {})
    return {
        "max_records_per_file": arguments.get("max_records_per_file", preset["max_records_per_file"]),
        "window": arguments.get("window", preset["window"]),
        "source": str(summary_path),
    }


def held_out_records(records: list[RnaRecord], max_examples: int | None) -> list[RnaRecord]:
    """A deterministic subset of the test-split records, spread evenly across the rRNA files.

    One record per (file, accession) (a multi-copy operon would only repeat its description), each file's
    records in a hash order of their accession, and the files taken in turn (16S, 18S, LSU, 16S, ...) until
    ``max_examples`` are chosen; a file that runs out leaves its turns to the others.

    Args:
        records: records from :func:`~chatnt.training.rnagpt.read_rrna_records`.
        max_examples: how many to keep (``None``: every test record, one per accession).

    Raises:
        ValueError: no record is in the test split.
    """
    if max_examples is not None and max_examples < 1:
        raise ValueError(f"max_examples must be at least 1 (or None for all), got {max_examples}.")
    by_source: dict[str, dict[str, RnaRecord]] = defaultdict(dict)
    for record in records:
        if record.split == "test":
            by_source[record.source].setdefault(record.accession, record)
    if not by_source:
        raise ValueError(
            "No test-split record among the records read: pass a --data_dir holding the rRNA files, or a larger "
            "--max_records_per_file."
        )
    queues = [
        sorted(by_source[source].values(), key=lambda record: stable_hash(f"rnagpt-eval:{record.accession}"))
        for source in RRNA_FILES
        if source in by_source
    ]
    chosen, depth = [], 0
    while any(depth < len(queue) for queue in queues):
        for queue in queues:
            if depth < len(queue) and (max_examples is None or len(chosen) < max_examples):
                chosen.append(queue[depth])
        depth += 1
    return chosen


def raw_sequence_question(record: RnaRecord) -> str:
    """The raw-LLM baseline's user turn: the record's nucleotides as RNA text (``T`` written ``U``)."""
    return RAW_LLM_QUESTION.format(sequence=record.sequence.upper().replace("T", "U"))


# ---------------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------------


def load_raw_llm(decoder: str):
    """The decoder as a plain causal LM and its tokenizer, padded on the left for batched generation.

    A tokenizer without a chat template gets ChatNT's Vicuna-style one (as the ChatNT processor does).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_decoder(decoder)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = VICUNA_CHAT_TEMPLATE
    return AutoModelForCausalLM.from_pretrained(path).eval(), tokenizer


@torch.no_grad()
def describe_with_raw_llm(
    model, tokenizer, questions: list[str], batch_size: int, max_new_tokens: int, bf16: bool = False
) -> list[str]:
    """Greedy answers (new text only) of a plain causal LM to single-turn user questions.

    Args:
        model: a causal LM.
        tokenizer: its tokenizer, with a chat template and left padding (see :func:`load_raw_llm`).
        questions: one user turn per record.
        batch_size: questions per ``generate`` call.
        max_new_tokens: longest answer.
        bf16: generate under bfloat16 autocast.
    """
    answers = []
    for start in tqdm(range(0, len(questions), batch_size), desc="raw_llm", unit="batch"):
        texts = [
            tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
            for question in questions[start : start + batch_size]
        ]
        # The template writes the special tokens itself (bos included where it has one).
        inputs = tokenizer(texts, padding=True, add_special_tokens=False, return_tensors="pt").to(model.device)
        with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
            output = model.generate(
                **inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        answers += tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    return [answer.strip() for answer in answers]


def describe_with_chatnt(
    model, processor, records: list[RnaRecord], batch_size: int, max_new_tokens: int, bf16: bool = False, desc: str = "chatnt"
) -> list[str]:
    """Greedy descriptions by a stage-1 or stage-2 model: the user turn is only ``@rna``, as in stage 1."""
    model.eval()
    answers = []
    for start in tqdm(range(0, len(records), batch_size), desc=desc, unit="batch"):
        chunk = records[start : start + batch_size]
        conversations = [[{"role": "user", "content": STAGE_PROMPT}] for _ in chunk]
        sequences = [{SEQUENCE_NAME: record.sequence} for record in chunk]
        answers += generate_answers(model, processor, conversations, sequences, max_new_tokens, bf16)
    return [answer.strip() for answer in answers]


def _same_sentence(task: str, generated: str, gold: str) -> str:
    """The generated answer, read as the gold sentence when both agree up to case and closing punctuation
    (``is_exact_match`` trims the punctuation from the answer only; stage-2 gold answers end with a '.')."""
    answer = parse_answer(generated)
    return gold if answer.casefold() == parse_answer(gold).casefold() else answer


@torch.no_grad()
def question_accuracy(
    model, processor, records: list[RnaRecord], per_task: int, batch_size: int, bf16: bool = False, seed: int = 0
) -> tuple[dict, list[dict]]:
    """Stage 2 on the task it was trained for: exact match on held-out questions about ``records``.

    Args:
        per_task: questions per kind (organism, rRNA type, ...), drawn with ``seed``.
        seed: the seed of the phrasing choice (:func:`~chatnt.training.rnagpt.instruction_rows`) and of the draw.

    Returns:
        ``({"exact_match": mean over kinds, "exact_match/<task>": ..., "n": questions}, answers)``.
    """
    rows = subset_per_task(instruction_rows(records, seed=seed).to_list(), per_task, seed=seed)
    if not rows:
        raise ValueError("No stage-2 question could be asked about the held-out records (no description was parsed).")
    answers = []
    for start in tqdm(range(0, len(rows), batch_size), desc="stage2 questions", unit="batch"):
        chunk = rows[start : start + batch_size]
        conversations = [[message for message in row["messages"] if message["role"] != "assistant"] for row in chunk]
        texts = generate_answers(model, processor, conversations, [row_sequences(row) for row in chunk], QA_MAX_NEW_TOKENS, bf16)
        for row, text in zip(chunk, texts):
            gold = row["answers"][0]
            answers.append(
                {
                    "task": row["task"],
                    "accession": row["accession"],
                    "question": row["messages"][0]["content"],
                    "gold": gold,
                    "answer": text.strip(),
                    "correct": is_exact_match(text, gold, row["task"], _same_sentence),
                }
            )
    by_task = defaultdict(list)
    for answer in answers:
        by_task[answer["task"]].append(answer["correct"])
    scores = {f"exact_match/{task}": sum(hits) / len(hits) for task, hits in sorted(by_task.items())}
    scores = {"exact_match": sum(scores.values()) / len(scores), **scores, "n": len(answers)}
    return scores, answers


# ---------------------------------------------------------------------------------------------------
# Scores and files
# ---------------------------------------------------------------------------------------------------


def score_descriptions(predictions: list[str], references: list[str]) -> dict:
    """ROUGE-1/2/L, embedding precision/recall/F1 (means over records), ``n`` and the mean answer length in words."""
    return {
        **rouge_scores(predictions, references),
        **embedding_similarity(predictions, references),
        "n": len(predictions),
        "mean_answer_words": sum(len(prediction.split()) for prediction in predictions) / len(predictions),
    }


def summarize(predictions: list[dict]) -> dict[str, dict]:
    """Per-system scores of ``predictions.jsonl`` rows, systems in :data:`SYSTEMS` order."""
    by_system = defaultdict(list)
    for row in predictions:
        by_system[row["system"]].append(row)
    return {
        system: score_descriptions([r["prediction"] for r in by_system[system]], [r["reference"] for r in by_system[system]])
        for system in SYSTEMS
        if system in by_system
    }


def _cell(key: str, value) -> str:
    if key == "n":
        return str(value)
    return f"{value:.1f}" if key == "mean_answer_words" else f"{value:.3f}"


def markdown_table(systems: dict[str, dict]) -> str:
    """One row per system, the columns of :data:`TABLE_COLUMNS`."""
    lines = [
        "| system | " + " | ".join(TABLE_COLUMNS.values()) + " |",
        "|---|" + "---|" * len(TABLE_COLUMNS),
    ]
    for system, scores in systems.items():
        lines.append(f"| {system} | " + " | ".join(_cell(key, scores[key]) for key in TABLE_COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def csv_table(systems: dict[str, dict]) -> str:
    """The same table as CSV, full precision."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["system", *TABLE_COLUMNS.values()])
    for system, scores in systems.items():
        writer.writerow([system, *(scores[key] for key in TABLE_COLUMNS)])
    return buffer.getvalue()


def headline_lines(metrics: dict) -> list[str]:
    """``<system>_<metric>: value`` for every system and metric, then stage 2's question exact match."""
    lines = []
    for system, scores in metrics["systems"].items():
        for key, name in HEADLINE_NAMES.items():
            value = scores[key]
            lines.append(f"{system}_{name}: {value}" if key == "n" else f"{system}_{name}: {value:.3f}")
    if "stage2_questions" in metrics:
        lines.append(f"stage2_question_exact_match: {metrics['stage2_questions']['exact_match']:.3f}")
    return lines


def write_results(output_dir: Path, predictions: list[dict], metrics: dict, question_answers: list[dict] | None = None) -> None:
    """``predictions.jsonl``, ``metrics.json``, ``table.md``, ``table.csv`` (and ``stage2_questions.jsonl``)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    with open(output_dir / "predictions.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in predictions)
    if question_answers is not None:
        with open(output_dir / "stage2_questions.jsonl", "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in question_answers)
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (output_dir / "table.md").write_text(markdown_table(metrics["systems"]), encoding="utf-8")
    (output_dir / "table.csv").write_text(csv_table(metrics["systems"]), encoding="utf-8")


# ---------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------


def parse_systems(text: str) -> list[str]:
    """``"raw_llm,stage1"`` -> ``["raw_llm", "stage1"]`` (in :data:`SYSTEMS` order), refusing unknown names."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SYSTEMS))
    if unknown or not names:
        raise ValueError(f"--systems takes a comma-separated subset of {','.join(SYSTEMS)}; got {text!r}.")
    return [system for system in SYSTEMS if system in names]


def referenced_decoder(stage1_dir: str | Path) -> str:
    """Where this machine loads the decoder a decoder-free stage-1 checkpoint references (its ``text_model_reference``)."""
    config_path = Path(stage1_dir) / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} not found: --stage1 must be a stage-1 output directory.")
    reference = json.loads(config_path.read_text(encoding="utf-8")).get("text_model_reference") or {}
    source = reference_source(reference) if reference else None
    if source is None:
        raise ValueError(f"{stage1_dir} names no decoder source; pass --decoder NAME_OR_PATH.")
    return decoder_location(source)[0]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage1", help="The stage-1 output directory (needed for stage1, stage2 and the defaults).")
    parser.add_argument("--stage2", help="The stage-2 output directory (PEFT adapter over --stage1).")
    parser.add_argument("--decoder", help="raw_llm's decoder (default: the one the stage-1 checkpoint references).")
    parser.add_argument("--data_dir", default=str(DEFAULT_DATA_DIR), help="Folder holding rrna/ (../shared/data).")
    parser.add_argument(
        "--max_records_per_file", type=int, default=None, help="As in the recipe (default: the stage-1 run's value)."
    )
    parser.add_argument("--window", type=int, default=None, help="Nucleotides kept (default: the stage-1 run's value).")
    parser.add_argument(
        "--max_examples", type=int, default=DEFAULT_MAX_EXAMPLES, help="Test records evaluated (0: every one)."
    )
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--bf16", action="store_true", help="Generate under bfloat16 autocast (faster on a CPU).")
    parser.add_argument(
        "--qa_per_task", type=int, default=DEFAULT_QA_PER_TASK,
        help="stage2: held-out questions per kind also scored by exact match (0: none).",
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the stage-2 question phrasing and draw.")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=f"Comma-separated subset of {','.join(SYSTEMS)}.")
    parser.add_argument("--output_dir", required=True, help="Where predictions.jsonl, metrics.json and the tables go.")
    return parser


def _checked_systems(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The systems to compare, after checking that each has the folders it needs (else ``parser.error``)."""
    try:
        systems = parse_systems(args.systems)
    except ValueError as error:
        parser.error(str(error))
    if {"stage1", "stage2"} & set(systems) and not args.stage1:
        parser.error("stage1 and stage2 need --stage1 (the stage-1 output directory).")
    if "stage2" in systems and not args.stage2:
        parser.error("stage2 needs --stage2 (the stage-2 output directory), or leave it out of --systems.")
    if not args.stage1 and not args.decoder:
        parser.error("raw_llm alone needs --decoder (or --stage1, whose decoder it then uses).")
    return systems


def _descriptions(system: str, args: argparse.Namespace, chosen: list) -> tuple[list[str], list[str], tuple | None]:
    """One system's prompts and descriptions of the ``chosen`` records, and for stage 2 with ``--qa_per_task`` its
    ``(question scores, question answers)``; the system's model is freed on return."""
    if system == "raw_llm":
        model, tokenizer = load_raw_llm(args.decoder or referenced_decoder(args.stage1))
        prompts = [raw_sequence_question(record) for record in chosen]
        return prompts, describe_with_raw_llm(model, tokenizer, prompts, args.batch_size, args.max_new_tokens, args.bf16), None
    model, processor = load_stage1(args.stage1) if system == "stage1" else load_stage2(args.stage2, args.stage1)
    answers = describe_with_chatnt(model, processor, chosen, args.batch_size, args.max_new_tokens, args.bf16, system)
    questions = None
    if system == "stage2" and args.qa_per_task:
        questions = question_accuracy(model, processor, chosen, args.qa_per_task, args.batch_size, args.bf16, args.seed)
    return [STAGE_PROMPT] * len(chosen), answers, questions


def main(argv: list[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    systems = _checked_systems(parser, args)

    settings = stage1_data_settings(args.stage1)
    max_records = settings["max_records_per_file"] if args.max_records_per_file is None else args.max_records_per_file
    window = settings["window"] if args.window is None else args.window
    records = read_rrna_records(args.data_dir, max_records_per_file=max_records or None, window=window or None)
    chosen = held_out_records(records, args.max_examples or None)
    references = [record.description for record in chosen]
    print(
        f"{len(chosen)} held-out records ({', '.join(f'{s}: {sum(r.source == s for r in chosen)}' for s in RRNA_FILES)}) "
        f"of {sum(r.split == 'test' for r in records)} test records; window {window or 'whole'}, "
        f"max_records_per_file {max_records or 'all'} (from {settings['source'] if args.window is None else 'the command line'})"
    )

    predictions, seconds, question_scores, question_answers = [], {}, None, None
    for system in systems:
        started = time.perf_counter()
        prompts, answers, questions = _descriptions(system, args, chosen)  # one model in memory at a time
        if questions is not None:
            question_scores, question_answers = questions
        seconds[system] = round(time.perf_counter() - started, 1)
        predictions += [
            {
                "system": system,
                "accession": record.accession,
                "source": record.source,
                "prompt": prompt,
                "reference": reference,
                "prediction": answer,
            }
            for record, prompt, reference, answer in zip(chosen, prompts, references, answers)
        ]

    metrics = {
        "systems": summarize(predictions),
        "settings": {
            "stage1": args.stage1,
            "stage2": args.stage2,
            "decoder": args.decoder or (referenced_decoder(args.stage1) if "raw_llm" in systems else None),
            "data_dir": args.data_dir,
            "window": window,
            "max_records_per_file": max_records,
            "max_examples": args.max_examples,
            "max_new_tokens": args.max_new_tokens,
            "bf16": args.bf16,
            "seconds": seconds,
        },
    }
    if question_scores is not None:
        metrics["stage2_questions"] = question_scores
    write_results(Path(args.output_dir), predictions, metrics, question_answers)
    print(markdown_table(metrics["systems"]))
    for line in headline_lines(metrics):
        print(line)
    return metrics


if __name__ == "__main__":
    main()

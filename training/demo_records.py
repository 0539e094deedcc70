"""The real records ``make demo`` asks about: a few TEST records of one task, picked by a fixed rule.

Rule: for each of the task's labels, the ``per_label`` TEST records of that label whose ids have the smallest
sha256 (:func:`~chatnt.tasks.registry.stable_hash`). The rule looks at ids only, never at a model's
answers, so the demo shows what the model does on records nobody chose for it. The records are written with
neutral ids (``test_1``, ...: some source ids name the label, e.g. ``..._shuffled``); the truth and the source id
go in the header's description, which the model never reads.

    python -m chatnt.training.demo_records write --task rrna_type --per_label 2 --out runs/demo/records.fa
    chatnt predict --fasta runs/demo/records.fa --question "..." --task rrna_type --out runs/demo/answers.tsv
    python -m chatnt.training.demo_records show --records runs/demo/records.fa --answers runs/demo/answers.tsv
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from chatnt.fasta import iter_fasta
from chatnt.tasks.registry import get_task, load_task, stable_hash


def pick_records(task_name: str, per_label: int, data_dir: str | None = None) -> list[dict]:
    """The rule's records (``id``, ``sequence``, ``label``), label after label in the task's label order."""
    task = get_task(task_name)
    if task.type not in ("binary", "multiclass"):
        raise ValueError(f"{task_name} is a {task.type} task; the demo rule picks records per label of a classification task.")
    test = load_task(task_name, data_dir=data_dir, split="test")
    picked = []
    for label in task.labels:
        records = sorted((r for r in test if r["label"] == label), key=lambda r: stable_hash(r["id"]))
        picked += records[:per_label]
    return picked


def write_records(records: list[dict], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w") as handle:
        for number, record in enumerate(records, 1):
            handle.write(f">test_{number} truth={record['label']} source={record['id']}\n{record['sequence']}\n")


def show(records: Path, answers: Path) -> list[str]:
    """One line per record: id, truth, the model's answer and its calibrated P(yes) when there is one."""
    truth = {record.id: record.description for record in iter_fasta(records)}
    with open(answers, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    lines = []
    for row in rows:
        probability = f"  P(yes) = {float(row['probability']):.2f}" if row.get("probability") else ""
        lines.append(f"{row['id']:<8} {truth.get(row['id'], '?'):<60} answer: {row['answer']}{probability}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m chatnt.training.demo_records", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="write the rule's TEST records as FASTA")
    write.add_argument("--task", required=True)
    write.add_argument("--per_label", type=int, default=2)
    write.add_argument("--data_dir", default=None)
    write.add_argument("--out", required=True)
    read = commands.add_parser("show", help="print each record's truth beside the model's answer")
    read.add_argument("--records", required=True)
    read.add_argument("--answers", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "write":
            write_records(pick_records(args.task, args.per_label, args.data_dir), Path(args.out))
        else:
            print("\n".join(show(Path(args.records), Path(args.answers))))
    except (KeyError, ValueError, OSError) as error:
        parser.error(str(error).strip("'\""))  # one line, exit 2


if __name__ == "__main__":
    main()

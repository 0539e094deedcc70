"""The demo's records: TEST records picked by id hash per label, written with neutral ids, shown beside answers."""

import pytest
from chatnt.fasta import iter_fasta
from chatnt.training.demo_records import main, pick_records, show
from chatnt.tasks.registry import load_task, stable_hash


def test_the_rule_takes_the_smallest_id_hashes_of_each_label_from_test_only():
    picked = pick_records("rrna_type", per_label=2)
    assert [record["label"] for record in picked] == ["16S", "16S", "18S", "18S", "23S/28S", "23S/28S"]
    test = load_task("rrna_type", split="test")
    for label in ("16S", "18S", "23S/28S"):
        smallest = sorted((stable_hash(r["id"]), r["id"]) for r in test if r["label"] == label)[:2]
        assert [r["id"] for r in picked if r["label"] == label] == [record_id for _, record_id in smallest]


def test_written_records_hide_the_label_from_the_id_and_show_prints_truth_beside_the_answer(tmp_path, capsys):
    records, answers = tmp_path / "records.fa", tmp_path / "answers.tsv"
    main(["write", "--task", "fly_promoter_shuffled", "--per_label", "1", "--out", str(records)])
    written = list(iter_fasta(records))
    assert [record.id for record in written] == ["test_1", "test_2"]
    assert written[0].description.startswith("truth=promoter source=")
    assert "shuffled" in written[1].description and "shuffled" not in written[1].id
    answers.write_text("id\tanswer\tparsed\tprobability\tcalibrated\ntest_1\tpromoter.\tpromoter\t\t\n"
                       "test_2\tYes.\tyes\t0.81\ttrue\n")
    lines = show(records, answers)
    assert lines[0].startswith("test_1") and "truth=promoter" in lines[0] and lines[0].endswith("answer: promoter.")
    assert lines[1].endswith("answer: Yes.  P(yes) = 0.81")


def test_bad_input_is_a_one_line_error_with_exit_2(tmp_path, capsys):
    for argv in (["write", "--task", "gc_content", "--out", str(tmp_path / "r.fa")],
                 ["write", "--task", "rrna", "--out", str(tmp_path / "r.fa")],
                 ["show", "--records", str(tmp_path / "missing.fa"), "--answers", str(tmp_path / "a.tsv")]):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2
        message = capsys.readouterr().err.strip().splitlines()[-1]
        assert message.startswith("python -m chatnt.training.demo_records: error: ")
    assert not (tmp_path / "r.fa").exists()

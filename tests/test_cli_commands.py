"""The chatnt commands as Python functions and through cli.main, in-process, on a tiny saved model."""

import importlib
import io
import json
import re

import pytest
from chatnt import ChatNTForConditionalGeneration, ChatNTProcessor
from chatnt.cli import main
from chatnt.commands import AnswerResult, ask, chat, compare, predict
from chatnt.commands.answering import answer_batch
from chatnt.commands.chat import ChatSession
from chatnt.commands.loading import load_chatnt
from chatnt.commands.predict import COLUMNS
from chatnt.commands.sharding import finished_keys
from chatnt.commands.questions import (
    is_yes_no_question,
    parse_yes_no,
    parsed_answer,
    record_question_template,
    shown_answer,
)
from helpers import random_dna, tiny_chatnt_config

QUESTION = "Is @seq a promoter? Answer yes or no."
# The modules, not the functions of the same name that chatnt.commands exports.
predict_module = importlib.import_module("chatnt.commands.predict")
chat_module = importlib.import_module("chatnt.commands.chat")


def save_tiny_model(directory, text_tokenizer, dna_tokenizer) -> str:
    """Saves a tiny random ChatNT whose processor reads at most 40 DNA tokens (about 234 bp); returns the folder."""
    import torch

    torch.manual_seed(0)
    ChatNTForConditionalGeneration(tiny_chatnt_config(text_tokenizer)).save_pretrained(directory)
    processor = ChatNTProcessor(text_tokenizer, dna_tokenizer, dna_tokens_per_sequence=4, max_dna_tokens=40)
    processor.save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, text_tokenizer, dna_tokenizer) -> str:
    return save_tiny_model(tmp_path_factory.mktemp("chatnt-tiny"), text_tokenizer, dna_tokenizer)


def write_fasta(path, records: dict) -> str:
    path.write_text("".join(f">{name}\n{sequence}\n" for name, sequence in records.items()))
    return str(path)


@pytest.fixture
def records_fasta(tmp_path) -> str:
    return write_fasta(tmp_path / "records.fa", {f"rec{i}": random_dna(30 + i, seed=i) for i in range(10)})


def read_rows(path) -> list[list[str]]:
    lines = open(path, encoding="utf-8").read().split("\n")
    assert lines[0].split("\t") == list(COLUMNS) and lines[-1] == ""
    return [line.split("\t") for line in lines[1:-1]]


# --- questions --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question, expected",
    [
        ("Is @seq1 a promoter?", True),
        ("Does <DNA> contain a TATA box?", True),
        ("Can @x be bound by Oct4?", True),
        ("Promoter? Answer yes or no.", True),
        ("Tell me (yes/no): promoter.", True),
        ("The sequence @chr4:126246986-126247186 is human. Has it a GC box?", True),
        ("Which factor binds @x? Options: Oct4, Mafk.", False),
        ("Is @x a promoter or an enhancer?", False),
        ("What is the GC content of @x?", False),
        ("Describe @x.", False),
        # The demo's cases, where its own rule used to disagree with this one:
        ("These are human sequences. Is it true that @seq1 is a promoter? Answer yes or no.", True),
        ("Please confirm or deny that @seq1 is a promoter (yes/no).", True),
        ("Is @seq1 a promoter? Answer with one of: promoter, Non-promoter.", False),
        ("Is @x one of the promoter sequences?", True),
        ("Am I right that @x is a promoter?", True),
        ("Which of @a and @b is a promoter?", False),
    ],
)
def test_yes_no_questions_are_detected(question, expected):
    assert is_yes_no_question(question) is expected


@pytest.mark.parametrize(
    "answer, label",
    [("Yes.", "yes"), ("no, it is not", "no"), ("My answer is yes.", "yes"), ("Maybe.", None), ("yes and no", "yes"),
     ("It could be yes or no", None)],
)
def test_yes_no_answers_are_parsed(answer, label):
    assert parse_yes_no(answer) == label


def test_parsed_answer_uses_the_task_parser_or_yes_no_or_nothing():
    from chatnt.commands.questions import task_parser

    assert parsed_answer("No, sorry.", QUESTION) == "no"
    assert parsed_answer("A promoter.", "What is @seq?") == ""
    assert parsed_answer("It is not a promoter.", "What is @seq?", task_parser("core_promoter")) == "Non-promoter"
    assert parsed_answer("About 41.5%", "GC of @seq?", task_parser("gc_content")) == "41.5"
    with pytest.raises(ValueError, match="--task: Unknown task 'core_promotr'. Did you mean core_promoter"):
        task_parser("core_promotr")


@pytest.mark.parametrize(
    "question, template, count",
    [("Is @seq a promoter?", "Is <DNA> a promoter?", 1),
     ("Is it @record.", "Is it <DNA>.", 1),
     ("Compare <DNA> with itself: <DNA>", "Compare <DNA> with itself: <DNA>", 2),
     ("Is @s bound? Look at @s again.", "Is <DNA> bound? Look at <DNA> again.", 2)],
)
def test_the_per_record_question_names_the_record_once_by_tag_or_placeholder(question, template, count):
    assert record_question_template(question) == (template, count)


@pytest.mark.parametrize(
    "question, message",
    [("Is it a promoter?", "does not refer to the record"),
     ("Is @a like @b?", r"names 2 sequences \(@a, @b\)"),
     ("Is @a like <DNA>?", "mixes <DNA> and an @tag")],
)
def test_a_per_record_question_without_exactly_one_reference_is_refused(question, message):
    with pytest.raises(ValueError, match=message):
        record_question_template(question)


# --- ask ------------------------------------------------------------------------------------------------------------


def test_ask_returns_the_answer_with_a_probability_for_a_yes_no_question(tiny_model, records_fasta):
    result = ask("Is @rec1 a promoter?", fasta=records_fasta, model=tiny_model, max_new_tokens=3)
    assert isinstance(result, AnswerResult) and result.label in ("yes", "no")
    assert 0.5 <= result.probability <= 1 and result.calibrated is False  # the tiny model has no calibrator
    assert abs(result.p_yes - (result.probability if result.label == "yes" else 1 - result.probability)) < 1e-9
    assert str(result).endswith(", uncalibrated)") or "uncalibrated; the classifier prefers" in str(result)
    plain = ask("What is @rec1?", fasta=records_fasta, model=tiny_model, max_new_tokens=3)
    assert plain.probability is None and plain.label is None and str(plain) == shown_answer(plain.answer)
    forced = ask("What is @rec1?", fasta=records_fasta, model=tiny_model, max_new_tokens=3, confidence="always")
    assert forced.probability is not None
    never = ask("Is @rec1 a promoter?", fasta=records_fasta, model=tiny_model, max_new_tokens=3, confidence="never")
    assert never.probability is None


def _verdict(answer, p_yes, calibrated=True):
    label = "yes" if p_yes >= 0.5 else "no"
    return AnswerResult(answer, label, max(p_yes, 1 - p_yes), p_yes, calibrated)


@pytest.mark.parametrize(
    "result, line",
    [(_verdict("No.", 0.03), "No. (P(no) = 0.97, calibrated)"),
     (_verdict("yes", 0.71, calibrated=False), "yes (P(yes) = 0.71, uncalibrated)"),
     # The generated answer and the classifier disagree: the probability is still the shown answer's.
     (_verdict("Yes, it is a promoter.", 0.32), "Yes, it is a promoter. (P(yes) = 0.32, calibrated; the classifier prefers no)"),
     (_verdict("no", 0.8), "no (P(no) = 0.20, calibrated; the classifier prefers yes)"),
     # Rounded to 0.50, a near tie would hide which side the classifier is on.
     (_verdict("yes", 0.4999), "yes (P(yes) = 0.4999, calibrated; the classifier prefers no)"),
     (_verdict("yes", 0.5), "yes (P(yes) = 0.50, calibrated)"),
     (_verdict("yes", 0.499999), "yes (P(yes) = 0.50, calibrated)"),  # a tie to the printed digits
     # An answer that says nothing is shown as such, beside the classifier's own verdict.
     (_verdict("The answer is  .", 0.71), '(no answer: "The answer is  .") (the classifier says yes: P(yes) = 0.71, calibrated)'),
     (_verdict("", 0.1), "(no answer) (the classifier says no: P(no) = 0.90, calibrated)"),
     (_verdict("Maybe.", 0.6), "Maybe. (the classifier says yes: P(yes) = 0.60, calibrated)"),
     (AnswerResult("Promoter."), "Promoter."),
     (AnswerResult("This sequence is classified as ."), '(no answer: "This sequence is classified as .")')],
)
def test_the_answer_line_gives_the_probability_of_the_answer_it_shows(result, line):
    assert str(result) == line


def test_ask_cli_prints_the_probability(tiny_model, records_fasta, capsys):
    assert main(["ask", "Is @rec1 a promoter?", "--fasta", records_fasta, "--model", tiny_model,
                 "--max-new-tokens", "3"]) == 0
    assert ", uncalibrated)" in capsys.readouterr().out


def test_answer_batch_matches_one_at_a_time(tiny_model):
    chatnt = load_chatnt(tiny_model)
    questions = ["Is <DNA> a promoter?", "Describe <DNA>."]
    sequences = [[random_dna(40, seed=1)], [random_dna(50, seed=2)]]
    together = answer_batch(chatnt, questions, sequences, [True, False], max_new_tokens=4, bf16=False)
    alone = [answer_batch(chatnt, [q], [s], [flag], max_new_tokens=4, bf16=False)[0]
             for q, s, flag in zip(questions, sequences, [True, False])]
    assert [r.answer for r in together] == [r.answer for r in alone]
    assert together[0].p_yes == pytest.approx(alone[0].p_yes, abs=1e-4) and together[1].p_yes is None


# --- predict --------------------------------------------------------------------------------------------------------


def test_predict_writes_one_row_per_record_and_a_summary(tiny_model, records_fasta, tmp_path, capsys):
    out = tmp_path / "results.tsv"
    assert main(["predict", "--fasta", records_fasta, "--question", QUESTION, "--out", str(out), "--model", tiny_model,
                 "--batch-size", "3", "--max-new-tokens", "3", "--no-progress"]) == 0
    rows = read_rows(out)
    assert [row[0] for row in rows] == [f"rec{i}" for i in range(10)]
    assert all(len(row) == 6 and 0 <= float(row[3]) <= 1 and row[4] == "false" and row[5] == "false" for row in rows)
    assert not (tmp_path / "results.tsv.partial").exists() and not (tmp_path / "results.tsv.partial.json").exists()
    printed = capsys.readouterr().out
    assert "records: 10 -> " in printed and "unparsed: " in printed and "records/s" in printed


def test_predict_keeps_a_tab_header_to_its_first_word(tiny_model, tmp_path):
    fasta = tmp_path / "tabs.fa"
    fasta.write_text(f">tabid\tsome description\n{random_dna(30)}\n>other\n{random_dna(30, seed=1)}\n")
    out = tmp_path / "results.tsv"
    assert main(["predict", "--fasta", str(fasta), "--question", QUESTION, "--out", str(out), "--model", tiny_model,
                 "--max-new-tokens", "3", "--no-progress"]) == 0
    rows = read_rows(out)
    assert [row[0] for row in rows] == ["tabid", "other"] and all(len(row) == 6 for row in rows)


def fake_answers(answers: dict):
    """An answer_batch stand-in that answers by sequence, so parsing and the summary are checked exactly."""

    def answer(chatnt, questions, sequences, confidence, **kwargs):
        return [AnswerResult(answers[dna[0]], "yes", 0.75, 0.75, True) if flag else AnswerResult(answers[dna[0]])
                for dna, flag in zip(sequences, confidence)]

    return answer


def test_predict_parses_answers_and_counts_labels(tiny_model, tmp_path, monkeypatch):
    sequences = {f"s{i}": random_dna(30, seed=100 + i) for i in range(5)}
    texts = ["Yes.", "No, it is not.", "yes", "Maybe\tlater\nperhaps", "No."]
    monkeypatch.setattr(predict_module, "answer_batch", fake_answers(dict(zip(sequences.values(), texts))))
    out = tmp_path / "out.tsv"
    summary = predict(write_fasta(tmp_path / "s.fa", sequences), "Does <DNA> bind Oct4?", out, model=tiny_model,
                      batch_size=2, progress=False)
    rows = read_rows(out)
    assert [row[2] for row in rows] == ["yes", "no", "yes", "", "no"]
    assert rows[3][1] == "Maybe later perhaps"  # tabs and newlines never break the table
    assert [row[3:] for row in rows] == [["0.7500", "true", "false"]] * 5
    assert (summary.records, summary.answered, summary.unparsed) == (5, 5, 1)
    assert summary.parsed_counts == {"yes": 2, "no": 2}
    assert "parsed: no 2, yes 2\nunparsed: 1\n" in summary.report()
    not_yes_no = predict(write_fasta(tmp_path / "s.fa", sequences), "Describe <DNA>.", tmp_path / "d.tsv",
                         model=tiny_model, progress=False)
    assert [row[2:] for row in read_rows(tmp_path / "d.tsv")] == [["", "", "", "false"]] * 5 and not_yes_no.unparsed == 0


def test_predict_resumes_an_interrupted_run_after_a_torn_line(tiny_model, records_fasta, tmp_path, monkeypatch):
    out = tmp_path / "results.tsv"
    predict(records_fasta, QUESTION, out, model=tiny_model, batch_size=4, max_new_tokens=3, progress=False)
    finished = out.read_text().split("\n")
    # An interrupted run: four complete rows and half of a fifth, still named .partial.
    partial = tmp_path / "results.tsv.partial"
    out.rename(partial)
    partial.write_text("\n".join(finished[:5]) + "\n" + finished[5][:4])
    settings = predict_module._settings(records_fasta, QUESTION, None, "auto", load_chatnt(tiny_model).path, 3, True, 4)
    (tmp_path / "results.tsv.partial.json").write_text(json.dumps(settings))
    assert finished_keys(partial, "\t".join(COLUMNS)) == {"rec0", "rec1", "rec2", "rec3"} and partial.read_text().endswith("\n")

    asked = []
    original = predict_module.answer_batch

    def counting(chatnt, questions, sequences, *args, **kwargs):
        asked.extend(sequences)
        return original(chatnt, questions, sequences, *args, **kwargs)

    monkeypatch.setattr(predict_module, "answer_batch", counting)
    summary = predict(records_fasta, QUESTION, out, model=tiny_model, batch_size=4, max_new_tokens=3, progress=False)
    assert len(asked) == 6 and (summary.records, summary.answered) == (10, 6)
    assert out.read_text() == "\n".join(finished)  # every record once, in file order, the same answers
    assert not partial.exists()


def test_predict_refuses_to_resume_with_other_settings_or_to_overwrite(tiny_model, records_fasta, tmp_path, capsys):
    out = tmp_path / "results.tsv"
    (tmp_path / "results.tsv.partial").write_text("\t".join(COLUMNS) + "\n")
    settings = predict_module._settings(records_fasta, QUESTION, None, "auto", load_chatnt(tiny_model).path, 3, True, 8)
    (tmp_path / "results.tsv.partial.json").write_text(json.dumps(settings))
    arguments = ["predict", "--fasta", records_fasta, "--out", str(out), "--model", tiny_model, "--no-progress"]
    assert main([*arguments, "--question", "Is @seq bound by Oct4?", "--max-new-tokens", "3"]) == 2
    assert "holds an interrupted run with other settings (question differ)" in capsys.readouterr().err
    # Another input file with the same question and output would mix the two files' rows.
    other = write_fasta(tmp_path / "other.fa", {"x1": random_dna(40, seed=7)})
    other_arguments = [*arguments[:2], other, *arguments[3:]]
    assert main([*other_arguments, "--question", QUESTION, "--max-new-tokens", "3"]) == 2
    assert "(fasta_sha256 differ; fasta_sha256: the --fasta file is another file or has changed)" in (
        capsys.readouterr().err)
    assert main([*arguments, "--question", QUESTION, "--max-new-tokens", "3", "--batch-size", "4"]) == 2
    assert "other settings (batch_size differ)" in capsys.readouterr().err
    assert main([*arguments, "--question", QUESTION, "--max-new-tokens", "3", "--overwrite"]) == 0
    assert main([*arguments, "--question", QUESTION, "--max-new-tokens", "3"]) == 2
    assert "already exists (a finished run). Pass --overwrite" in capsys.readouterr().err


def test_predict_truncates_only_when_asked(tiny_model, tmp_path, capsys):
    fasta = write_fasta(tmp_path / "long.fa", {"short": random_dna(60), "long": random_dna(400, seed=3)})
    out = tmp_path / "r.tsv"
    arguments = ["predict", "--fasta", fasta, "--question", QUESTION, "--out", str(out), "--model", tiny_model,
                 "--max-new-tokens", "2", "--no-progress", "--batch-size", "1"]
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert "chatnt: error: record 'long' has 400 bp" in error and "Pass --truncate" in error
    assert not out.exists() and not (tmp_path / "r.tsv.partial").exists()  # checked before any row was written
    assert main([*arguments, "--truncate"]) == 0
    assert [(row[0], row[5]) for row in read_rows(out)] == [("short", "false"), ("long", "true")]
    assert "truncated: 1 (answered about their start only; column 'truncated')" in capsys.readouterr().out


def test_iupac_codes_are_an_error_that_names_the_option_and_read_as_n_with_it(tiny_model, tmp_path, capsys):
    fasta = write_fasta(tmp_path / "iupac.fa", {"a": "ACGTRYACGTACGTACGTKM", "b": random_dna(30)})
    assert main(["ask", "Is @a a promoter?", "--fasta", fasta, "--model", tiny_model, "--max-new-tokens", "2"]) == 2
    assert "IUPAC ambiguity codes: pass replace_unknown_with_n=True (command line: --iupac-as-n)" in capsys.readouterr().err
    out = tmp_path / "r.tsv"
    arguments = ["predict", "--fasta", fasta, "--question", QUESTION, "--out", str(out), "--model", tiny_model,
                 "--max-new-tokens", "2", "--no-progress"]
    assert main(arguments) == 2
    assert "(command line: --iupac-as-n) to read them as N" in capsys.readouterr().err
    assert main([*arguments, "--iupac-as-n"]) == 0 and [row[0] for row in read_rows(out)] == ["a", "b"]
    assert main(["ask", "Is @a a promoter?", "--fasta", fasta, "--model", tiny_model, "--max-new-tokens", "2",
                 "--iupac-as-n"]) == 0
    from chatnt.commands.sequences import iupac_as_n

    assert iupac_as_n("ACGTRYSWKMBDHVrysn") == "ACGTNNNNNNNNNNNNNn" and iupac_as_n("MKVLEQ") == "NNNLEQ"


@pytest.mark.parametrize(
    "content, question, message",
    [
        (">a\nACGT\n>a\nACGA\n", QUESTION, "duplicate record id 'a'"),
        (">a\nACGTRY\n", QUESTION, "record 'a': DNA sequence contains characters that are not nucleotides"),
        (">a\nMKVLLPEQ\n", QUESTION, "It looks like a protein sequence"),
        (">a\n>b\nACGT\n", QUESTION, "record 'a' has no sequence"),
        ("", QUESTION, "holds no FASTA record"),
        ("ACGT\n", QUESTION, "is not a FASTA file"),
        (">a\nACGT\n", "Is it a promoter?", "does not refer to the record"),
    ],
)
def test_predict_reports_bad_input_with_exit_code_2(tiny_model, tmp_path, capsys, content, question, message):
    fasta = tmp_path / "bad.fa"
    fasta.write_text(content)
    out = tmp_path / "r.tsv"
    assert main(["predict", "--fasta", str(fasta), "--question", question, "--out", str(out), "--model", tiny_model,
                 "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("chatnt: error: ") and message in error and "Traceback" not in error
    assert len(error.strip().splitlines()) == 1 and not out.exists()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--model", "no/such/dir"], "model directory not found: 'no/such/dir'"),
        (["--task", "promoterz"], "--task: Unknown task 'promoterz'"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_predict_reports_bad_options(tiny_model, records_fasta, tmp_path, capsys, arguments, message):
    options = {"--model": tiny_model} | dict(zip(arguments[::2], arguments[1::2]))
    flat = [item for pair in options.items() for item in pair]
    assert main(["predict", "--fasta", records_fasta, "--question", QUESTION, "--out", str(tmp_path / "r.tsv"),
                 *flat]) == 2
    assert message in capsys.readouterr().err


def test_a_model_folder_without_config_or_weights_is_refused(tiny_model, tmp_path, records_fasta, capsys):
    import shutil

    assert main(["ask", "Is @rec1 bound?", "--fasta", records_fasta, "--model", str(tmp_path)]) == 2
    assert "is not a ChatNT checkpoint: it has no config.json" in capsys.readouterr().err
    without_weights = tmp_path / "no-weights"
    without_weights.mkdir()
    shutil.copy(f"{tiny_model}/config.json", without_weights)
    assert main(["ask", "Is @rec1 bound?", "--fasta", records_fasta, "--model", str(without_weights)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"chatnt: error: cannot load the ChatNT model from '{without_weights}': ")
    assert len(error.strip().splitlines()) == 1


# --- compare --------------------------------------------------------------------------------------------------------


def test_compare_asks_about_both_sequences_and_lists_the_substitutions(tiny_model, tmp_path, capsys):
    reference = random_dna(60, seed=7)
    variant = reference[:29] + ("A" if reference[29] != "A" else "C") + reference[30:]
    fasta = write_fasta(tmp_path / "pair.fa", {"wt": reference, "mut": variant, "other": "ACGT" * 10})
    outcome = compare("@wt", "mut", fasta=fasta, model=tiny_model, max_new_tokens=3)
    assert outcome.substitutions == 1 and outcome.differences == (f"30:{reference[29]}>{variant[29]}",)
    assert outcome.result.label in ("yes", "no")  # the default question is a yes/no question
    custom = compare("wt", "mut", fasta=fasta, model=tiny_model, max_new_tokens=3,
                     question="Describe how @mut differs from @wt.")
    assert custom.result.probability is None
    assert main(["compare", "--ref", "@wt", "--alt", "@mut", "--fasta", fasta, "--model", tiny_model,
                 "--max-new-tokens", "3"]) == 0
    printed = capsys.readouterr().out
    assert "@wt vs @mut: 1 substitution: 30:" in printed and re.search(r"P\((?:yes|no)\) = ", printed)
    assert main(["compare", "--ref", "@wt", "--alt", "@mutant", "--fasta", fasta, "--model", tiny_model]) == 2
    assert "chatnt: error: --alt @mutant: no such record. Known names: @wt, @mut, @other." in capsys.readouterr().err


def test_compare_refuses_truncated_windows_that_are_identical_and_says_what_it_read(tiny_model, tmp_path, capsys):
    reference = random_dna(600, seed=11)  # the tiny model reads 40 DNA tokens: the first ~234 bp
    late = reference[:500] + ("A" if reference[500] != "A" else "C") + reference[501:]
    early = reference[:20] + ("A" if reference[20] != "A" else "C") + reference[21:]
    fasta = write_fasta(tmp_path / "long_pair.fa", {"wt": reference, "late": late, "early": early})
    arguments = ["compare", "--ref", "@wt", "--fasta", fasta, "--model", tiny_model, "--max-new-tokens", "2",
                 "--truncate"]
    assert main([*arguments, "--alt", "@late"]) == 2
    error = capsys.readouterr().err
    assert "--truncate keeps the first" in error and "identical there: the records differ only beyond" in error
    assert main([*arguments, "--alt", "@early"]) == 0
    assert re.search(r"1 substitution in the first \d+ bp read \(--truncate\): 21:", capsys.readouterr().out)


def test_substitutions_are_listed_only_for_equal_lengths():
    from chatnt.commands.compare import CompareResult, substitutions

    assert substitutions("ACGTACGTACGT", "acgtTCGTACGA") == (2, ("5:A>T", "12:T>A"))
    assert substitutions("A" * 30, "C" * 30)[0] == 30 and len(substitutions("A" * 30, "C" * 30)[1]) == 10
    assert substitutions("ACGT", "ACG") == (None, ())
    outcome = CompareResult("wt", "del", "q", AnswerResult("Yes."), (), None, 4, 3)
    assert outcome.describe_difference() == "@wt and @del differ in length (4 vs 3 bp)"
    many = CompareResult("wt", "mut", "q", AnswerResult("No."), substitutions("A" * 30, "C" * 30)[1], 30, 30, 30)
    described = many.describe_difference()
    assert described.startswith("30 substitutions: 1:A>C, 2:A>C") and described.endswith("10:A>C, ...")


# --- chat -----------------------------------------------------------------------------------------------------------


def test_chat_keeps_the_conversation_and_runs_its_commands(tiny_model, records_fasta, tmp_path, monkeypatch):
    seen = []
    original = chat_module.answer_batch

    def spy(chatnt, questions, sequences, confidence, **kwargs):
        seen.append((questions[0], sequences[0]))
        return original(chatnt, questions, sequences, confidence, **kwargs)

    monkeypatch.setattr(chat_module, "answer_batch", spy)
    more = write_fasta(tmp_path / "more.fa", {"extra": random_dna(50, seed=9)})
    script = "\n".join([
        "/list", "Is @rec1 a promoter?", "And what about @rec2", "/history", "/load missing.fa", "Is @nope bound?",
        "/reset", f"/load {more}", "Is <DNA> bound?", "What is the weather?", "/quit", "Is @rec1 ignored?",
    ]) + "\n"
    output = io.StringIO()
    session = chat([records_fasta], model=tiny_model, input=io.StringIO(script), output=output, max_new_tokens=3)
    printed = output.getvalue()
    assert "@rec0\t30 bp\t" in printed and "loaded 1 record(s): @extra" in printed
    assert "user: Is @rec1 a promoter?\nassistant: " in printed and "user: And what about @rec2" in printed
    assert "error: FASTA file not found: 'missing.fa'" in printed
    assert "error: unknown sequence reference @nope" in printed and "conversation reset" in printed
    assert "error: the question holds 1 <DNA> but 11 records are loaded" in printed
    # Turn 2 saw turn 1 (question and answer); the failed turn added nothing; /reset started again.
    first, second, failed, after_reset = (questions for questions, _ in seen)
    assert first == [{"role": "user", "content": "Is @rec1 a promoter?"}]
    assert second[0] == first[0] and second[1]["role"] == "assistant"
    assert second[2] == {"role": "user", "content": "And what about @rec2"} and len(failed) == 5
    assert after_reset == [{"role": "user", "content": "What is the weather?"}] and seen[3][1] is None  # no DNA
    assert seen[0][1] == seen[1][1] and len(seen[0][1]) == 10  # the loaded records, by id
    assert [m["content"] for m in session.history] == ["What is the weather?", session.history[1]["content"]]
    assert len(re.findall(r"P\((?:yes|no)\) = ", printed)) == 1  # the yes/no question carries a probability, no other


def test_chat_session_maps_dna_placeholders_to_the_loaded_record(tiny_model, tmp_path):
    session = ChatSession(load_chatnt(tiny_model), max_new_tokens=2)
    session.load(write_fasta(tmp_path / "one.fa", {"only": random_dna(40)}))
    assert session._with_tags("Is <DNA> bound? And <DNA>?") == "Is @only bound? And @only?"
    with pytest.raises(ValueError, match="'only' is already loaded"):
        session.load(str(tmp_path / "one.fa"))
    session.ask("Is <DNA> bound?")
    assert [m["content"] for m in session.history][0] == "Is @only bound?"
    session.reset()
    assert session.history == [] and list(session.records) == ["only"]


@pytest.mark.parametrize("command", ["ask", "predict", "compare", "chat", "attribute"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_request:
        main([command, "--help"])
    assert exit_request.value.code == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"usage: chatnt {command}") and "--model" in printed


def test_chat_on_a_terminal_greets_and_prompts(tiny_model):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    output = io.StringIO()
    chat(model=tiny_model, input=Terminal("/list\n/quit\n"), output=output)
    printed = output.getvalue()
    assert printed.startswith("ChatNT chat (") and "0 record(s) loaded. /help lists commands." in printed
    assert "> no records loaded (/load FILE)\n> " in printed


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_damaged_weights_are_one_line_with_exit_2(tiny_model, records_fasta, tmp_path, capsys, damage):
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_model, damaged)
    weights = damaged / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not a safetensors file at all")
    assert main(["ask", "Is @rec0 a promoter?", "--fasta", records_fasta, "--model", str(damaged)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("chatnt: error: cannot load the ChatNT model from") and "model.safetensors" in error
    assert "\n" not in error and "Traceback" not in error


def test_an_output_folder_that_cannot_be_written_is_one_line_with_exit_2(tiny_model, records_fasta, capsys,
                                                                        monkeypatch, tmp_path):
    import errno

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "ro" / "results.tsv.partial.json"))

    monkeypatch.setattr(predict_module.Path, "write_text", read_only)
    out = tmp_path / "ro" / "results.tsv"
    arguments = ["predict", "--fasta", records_fasta, "--question", QUESTION, "--out", str(out), "--model", tiny_model,
                 "--no-progress"]
    assert main(arguments) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("chatnt: error: Read-only file system (") and "results.tsv.partial.json)" in error
    assert "write elsewhere (--out)" in error and "\n" not in error


def test_a_missing_model_under_a_local_folder_is_not_taken_for_a_hub_id(records_fasta, tmp_path, capsys, monkeypatch):
    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("chatnt.commands.loading._load", lambda model: pytest.fail("tried to load a Hub id"))
    assert main(["ask", "Is @rec0 a promoter?", "--fasta", records_fasta, "--model", "models/does_not_exist"]) == 2
    assert "model directory not found: 'models/does_not_exist'" in capsys.readouterr().err


@pytest.mark.parametrize("command", [
    ["ask", "Is @rec0 a promoter?"],
    ["predict", "--question", "Is @seq a promoter?", "--out", "never.tsv"],
    ["chat"],
    ["attribute", "Is @rec0 a promoter?"],
])
def test_a_missing_fasta_is_reported_before_the_model_loads(tmp_path, capsys, monkeypatch, command):
    monkeypatch.setattr("chatnt.commands.loading._load", lambda model: pytest.fail("loaded the model first"))
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--fasta", "missing.fa"]) == 2
    assert "FASTA file not found: 'missing.fa'" in capsys.readouterr().err

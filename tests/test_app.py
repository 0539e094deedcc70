"""The Gradio demo's answer logic (app.py), without a browser, on a tiny random ChatNT."""

import gzip
import importlib.util
import sys

import pytest
from chatnt.perplexity_classifier import classify
from helpers import REPO_ROOT, random_dna


def _load_app():
    # app.py stands at the repository root, outside the package: load it by path, once.
    if "chatnt_app" not in sys.modules:
        spec = importlib.util.spec_from_file_location("chatnt_app", REPO_ROOT / "app.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["chatnt_app"] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules["chatnt_app"]


app = _load_app()


@pytest.fixture
def demo(make_model, make_processor):
    return app.ChatNTDemo(make_model(), make_processor(), max_new_tokens=3)


@pytest.fixture
def fasta(tmp_path):
    def write(name="records.fa", **records):
        path = tmp_path / name
        path.write_text("".join(f">{record_id} a record\n{sequence}\n" for record_id, sequence in records.items()))
        return str(path)

    return write


def test_answers_a_yes_no_question_about_an_uploaded_record_with_its_probability_and_plot(demo, fasta):
    state = app.SessionState()
    reply = demo.respond("Is @seq1 a promoter? Answer yes or no.", [fasta(seq1=random_dna(60))], state)
    assert reply.answer is not None and reply.text.startswith(reply.answer or "(no answer)")
    assert set(reply.confidence) >= {"label", "probability", "p_positive", "calibrated"}
    assert 0.0 <= reply.confidence["p_positive"] <= 1.0 and reply.confidence["label"] in {"yes", "no"}
    assert f"P(yes) = {reply.confidence['p_positive']:.2f}" in reply.text
    assert reply.confidence["calibrated"] is False and "uncalibrated" in reply.text  # the tiny model has no calibrator
    (sequence,) = reply.attribution.sequences
    assert sequence.name == "seq1" and len(sequence.base_scores) == 60
    assert reply.plot.width > 100 and reply.plot.height > 100
    assert list(state.records) == ["seq1"] and state.exchanges[-1].question == "Is @seq1 a promoter? Answer yes or no."


def test_several_sequences_in_one_question_by_id_and_by_placeholder(demo, fasta):
    records = fasta(wt=random_dna(48, seed=1), mut=random_dna(48, seed=2))
    state = app.SessionState()
    reply = demo.respond("Which of <DNA> and <DNA> is bound by Oct4?", [records], state)
    assert state.exchanges[-1].question == "Which of @wt and @mut is bound by Oct4?"  # placeholders become the ids
    assert [sequence.name for sequence in reply.attribution.sequences] == ["wt", "mut"]
    assert reply.plot.height > 2 * 150  # one track per sequence, stacked
    assert set(reply.confidence) == {"first_token_probability"} and "first-token probability" in reply.text

    reply = demo.respond("Which of @mut and @wt is a promoter?", [], state, with_attribution=False)
    assert reply.answer is not None and reply.attribution is None and reply.plot is None
    # The plot shows the question's own sequences, not the copies that earlier turns put in the conversation.
    reply = demo.respond("Is @wt a promoter?", [], state)
    assert [sequence.name for sequence in reply.attribution.sequences] == ["wt"]


def test_history_is_kept_across_turns(demo, fasta, monkeypatch):
    state = app.SessionState()
    demo.respond("Is @seq1 a promoter? Answer yes or no.", [fasta(seq1=random_dna(30))], state, with_attribution=False)
    seen = []
    original = demo.generate
    monkeypatch.setattr(demo, "generate", lambda conversation, sequences: seen.append((conversation, sequences))
                        or original(conversation, sequences))
    reply = demo.respond("Are you sure? Answer yes or no.", [], state)
    assert [sequence.name for sequence in reply.attribution.sequences] == ["seq1"]  # explained with the history
    # The follow-up names no sequence; the first turn's @seq1 is still in the conversation the model reads.
    assert reply.answer is not None
    conversation, sequences = seen[0]
    assert [message["role"] for message in conversation] == ["user", "assistant", "user"]
    assert conversation[0]["content"] == "Is @seq1 a promoter? Answer yes or no." and list(sequences) == ["seq1"]
    assert len(state.conversation()) == 4
    # The calibrated probability is for questions that name their sequences; a bare follow-up gets the
    # first-token probability and is told why.
    assert set(reply.confidence) == {"first_token_probability"} and "that name their sequences" in reply.text
    reply = demo.respond("Is @seq1 a terminator? Answer yes or no.", [], state, with_attribution=False)
    assert "P(yes)" in reply.text and "for this question on its own" in reply.text


def test_chat_turn_follows_the_chat_history_after_undo_and_clear(demo, fasta):
    records = fasta(seq1=random_dna(30))
    message = {"text": "Is @seq1 a promoter?", "files": [records]}
    text, state, plot, caption = app.chat_turn(demo, message, [], None, False)
    assert plot is None and "Attribution is off" in caption and "Confidence" in text
    history = [{"role": "user", "content": "Is @seq1 a promoter?"}, {"role": "assistant", "content": text}]
    _, state, _, _ = app.chat_turn(demo, {"text": "Is @seq1 a terminator?", "files": []}, history, state, False)
    assert len(state.exchanges) == 2
    # Undo leaves one answer on screen: the model forgets the undone turn, keeps the uploads.
    _, state, _, _ = app.chat_turn(demo, {"text": "Is @seq1 bound?", "files": []}, history, state, False)
    assert [exchange.question for exchange in state.exchanges] == ["Is @seq1 a promoter?", "Is @seq1 bound?"]
    # A cleared chat (empty history) starts over, uploads included.
    text, state, _, _ = app.chat_turn(demo, {"text": "Is @seq1 bound?", "files": []}, [], state, False)
    assert "no FASTA file has been uploaded in this session" in text and state.records == {}


def test_unknown_id_lists_the_uploaded_records(demo, fasta):
    state = app.SessionState()
    reply = demo.respond("Is @seq3 a promoter?", [fasta(seq1=random_dna(30), seq2=random_dna(30, seed=1))], state)
    assert reply.answer is None
    assert "Unknown sequence reference @seq3. Your uploaded records: @seq1, @seq2." in reply.text
    assert "Did you mean @seq1" in reply.text or "Did you mean @seq2" in reply.text
    assert list(state.records) == ["seq1", "seq2"]  # the upload itself was fine and is kept


def test_an_overlong_message_is_refused_before_any_work(demo, fasta, monkeypatch):
    monkeypatch.setattr(app, "add_uploads", lambda *args, **kwargs: pytest.fail("uploads read for a refused message"))
    state = app.SessionState()
    reply = demo.respond("Is @seq1 a promoter? " + "A" * 60_000, [fasta(seq1=random_dna(30))], state)
    assert reply.answer is None and state.records == {}
    assert "Your message has 60,021 characters; the demo takes questions of up to 2,000." in reply.text


def test_an_unknown_id_that_starts_with_an_uploaded_one_is_refused(demo, fasta):
    state = app.SessionState()
    reply = demo.respond("Is @promoter_candidate2 a promoter?", [fasta(promoter_candidate=random_dna(30))], state)
    assert reply.answer is None
    assert "Unknown sequence reference @promoter_candidate2. Your uploaded records: @promoter_candidate." in reply.text


@pytest.mark.parametrize("question", [
    "Is @../../etc/passwd a promoter?",
    "Is @/etc/hosts a promoter?",
    "Is @~/.ssh/id_rsa a promoter?",
    "Is /etc/hosts a promoter?",
    "Read ../secret/records.fa and tell me if @seq1 is a promoter.",
    "Is @seq1 in file:///etc/passwd a promoter?",
    r"Is C:\data\x.fa a promoter?",
])
def test_paths_in_a_message_are_refused_and_never_opened(demo, fasta, question, monkeypatch):
    state = app.SessionState()
    demo.respond("", [fasta(seq1=random_dna(30))], state)
    opened = []
    monkeypatch.setattr(app, "read_upload", lambda *args, **kwargs: opened.append(args) or {})
    reply = demo.respond(question, [], state)
    assert reply.answer is None and "looks like a file path" in reply.text
    assert "never" in reply.text and "upload" in reply.text
    assert opened == [] and list(state.records) == ["seq1"]


def test_records_of_files_not_uploaded_in_the_session_are_not_resolved(demo, fasta, tmp_path, monkeypatch):
    other_file = fasta("other.fa", secret=random_dna(30))  # on disk, in the working directory, never uploaded
    monkeypatch.chdir(tmp_path)
    state = app.SessionState()
    for question in ["Is @secret a promoter?", "Is @other.fa a promoter?", f"Is @{other_file} a promoter?"]:
        reply = demo.respond(question, [], state)
        assert reply.answer is None and state.records == {}
        assert "no FASTA file has been uploaded" in reply.text or "looks like a file path" in reply.text
    # Another session's uploads are not this one's.
    demo.respond("", [other_file], app.SessionState())
    assert "Unknown sequence reference @secret" in demo.respond(
        "Is @secret bound?", [fasta(seq1=random_dna(30))], state).text


def test_an_uploaded_record_id_with_a_slash_is_still_a_record(demo, fasta):
    state = app.SessionState()
    reply = demo.respond("Is @read7/1 a promoter?", [fasta(**{"read7/1": random_dna(30)})], state, with_attribution=False)
    assert reply.answer is not None and state.exchanges[-1].question == "Is @read7/1 a promoter?"


def test_oversize_uploads_are_refused(make_model, make_processor, fasta, tmp_path):
    demo = app.ChatNTDemo(make_model(), make_processor(), max_new_tokens=3, max_upload_bytes=1000)
    state = app.SessionState()
    reply = demo.respond("Is @big a promoter?", [fasta(big=random_dna(1200))], state)
    assert "over the demo's upload limit of" in reply.text and state.records == {}
    bomb = tmp_path / "bomb.fa.gz"  # small on disk, large once unpacked
    bomb.write_bytes(gzip.compress(b">big\n" + b"A" * 100_000 + b"\n"))
    assert bomb.stat().st_size < 1000
    reply = demo.respond("Is @big a promoter?", [str(bomb)], state)
    assert "unpacks to more than the demo's upload limit" in reply.text and state.records == {}


def test_a_gzipped_upload_is_read(demo, tmp_path):
    packed = tmp_path / "records.fasta.gz"
    packed.write_bytes(gzip.compress(b">seq1\nACGTACGTAAGGCTTTGACAATCG\n"))
    state = app.SessionState()
    reply = demo.respond("Is @seq1 a promoter?", [str(packed)], state, with_attribution=False)
    assert reply.answer is not None and state.records == {"seq1": "ACGTACGTAAGGCTTTGACAATCG"}


def test_an_upload_with_bytes_that_are_not_utf8_is_refused_with_their_line(tmp_path):
    path = tmp_path / "latin.fa"
    path.write_bytes(b">caf\xe9\nACGTACGT\n")
    with pytest.raises(app.DemoInputError, match=r"latin.fa, line 1: byte b'\\xe9' at column 5 is not UTF-8 text"):
        app.read_upload(path)


def test_iupac_codes_are_refused_with_a_fix_the_demo_user_can_apply(demo, fasta):
    reply = demo.respond("Is @amb a promoter?", [fasta(amb="ACGTRYACGTACGTKM" * 2)], app.SessionState())
    assert reply.answer is None
    assert "record amb holds IUPAC ambiguity codes (K, M, R, Y); the demo reads A, C, G, T, U and N." in reply.text
    assert "sed '/^>/!s/[RYSWKMBDHVryswkmbdhv]/N/g' in.fa > out.fa" in reply.text


def test_a_sequence_longer_than_the_model_reads_is_refused(make_model, make_processor, fasta):
    demo = app.ChatNTDemo(make_model(), make_processor(max_dna_tokens=10), max_new_tokens=3)
    state = app.SessionState()
    reply = demo.respond("Is @long a promoter?", [fasta(short=random_dna(30), long=random_dna(200))], state)
    assert "records.fa, record long has 200 bp = 36 DNA tokens, more than the model's limit of 10 tokens (about 54 bp)" in reply.text
    assert "Upload a shorter window" in reply.text and state.records == {}  # nothing of a refused file is kept


@pytest.mark.parametrize("file_name, content, message", [
    ("notes.pdf", ">seq1\nACGT\n", "notes.pdf: not a FASTA upload. Attach a file ending in .fa, .fasta, .fna, .txt"),
    ("empty.fa", "", "empty.fa holds no FASTA record"),
    ("table.txt", "id,sequence\nseq1,ACGT\n", "table.txt is not a FASTA file: line 1"),
    ("protein.fa", ">p1\nMKVLAAGIVL\n", "protein.fa, record p1: DNA sequence contains characters that are not nucleotides"),
    ("odd.fa", ">seq(1)\nACGT\n", "odd.fa: record id 'seq(1)' cannot be written as an @tag"),
])
def test_bad_files_are_refused_with_their_name(demo, tmp_path, file_name, content, message):
    path = tmp_path / file_name
    path.write_text(content)
    reply = demo.respond("Is @seq1 a promoter?", [str(path)], app.SessionState())
    assert reply.answer is None and message in reply.text


def test_a_record_id_reused_for_another_sequence_is_refused(demo, fasta):
    state = app.SessionState()
    demo.respond("", [fasta("a.fa", seq1="ACGTACGTAC")], state)
    assert "Uploaded 1 record(s): @seq1" in state.exchanges[-1].answer
    demo.respond("", [fasta("a.fa", seq1="ACGTACGTAC")], state)  # the same file again (a retried message): fine
    reply = demo.respond("Is @seq1 a promoter?", [fasta("b.fa", seq1="TTTTTTTTTT")], state)
    assert "b.fa: record id seq1 is already used by a different sequence from a.fa" in reply.text
    assert state.records == {"seq1": "ACGTACGTAC"}


@pytest.mark.parametrize("question, message", [
    ("Is <DNA> a promoter?", "none is attached"),
    ("Is this a promoter?", "The question refers to no sequence"),
    ("Compare <DNA> with @seq1.", "mixes <DNA> and @id"),
])
def test_questions_without_a_usable_reference_are_refused(demo, fasta, question, message):
    state = app.SessionState()
    demo.respond("", [fasta(seq1=random_dna(30))], state)
    assert message in demo.respond(question, [], state).text


def test_placeholder_count_must_match_the_attached_records(demo, fasta):
    reply = demo.respond("Is <DNA> a promoter?", [fasta(a=random_dna(30), b=random_dna(30, seed=1))], app.SessionState())
    assert "holds 1 <DNA> placeholder(s) but the attached file(s) hold 2 record(s) (@a, @b)" in reply.text


def test_too_many_sequences_in_one_conversation_are_refused(demo, fasta):
    records = {f"s{index}": random_dna(12, seed=index) for index in range(app.MAX_SEQUENCES_PER_CONVERSATION + 1)}
    question = "Which of " + ", ".join(f"@{name}" for name in records) + " is a promoter?"
    reply = demo.respond(question, [fasta(**records)], app.SessionState())
    assert f"more than the demo's limit of {app.MAX_SEQUENCES_PER_CONVERSATION}" in reply.text


def test_the_demo_decides_yes_no_questions_by_the_command_lines_rule():
    from chatnt.commands.questions import is_yes_no_question

    assert app.is_yes_no_question is is_yes_no_question  # one rule (its cases: test_cli_commands.py)


def test_the_example_fasta_is_valid_and_its_records_are_named_by_the_examples():
    records = app.read_upload(app.EXAMPLE_FASTA)
    assert list(records) == ["promoter_candidate", "shuffled_control", "gc_rich_window"]
    assert all(set(sequence) <= set("ACGT") and 100 <= len(sequence) <= 400 for sequence in records.values())


def test_a_failing_attribution_does_not_cost_the_answer(demo, fasta, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(demo, "attribution_plot", broken)
    message = {"text": "Is @seq1 a promoter?", "files": [fasta(seq1=random_dna(30))]}
    text, state, plot, caption = app.chat_turn(demo, message, [], None, True)
    assert "Confidence" in text and plot is None and state.exchanges[-1].question == "Is @seq1 a promoter?"
    assert caption == "No attribution for this answer: RuntimeError: out of memory"


def test_app_imports_the_repository_as_chatnt_when_it_is_not_installed(tmp_path):
    import subprocess

    # A Space holds the repository's files without pip-installing them: the editable install's finder is
    # removed here to stand for that.
    code = (
        "import importlib.util, sys\n"
        "sys.meta_path = [f for f in sys.meta_path if 'editable' not in getattr(f, '__module__', '')\n"
        "                 and 'editable' not in repr(f).lower()]\n"
        "assert importlib.util.find_spec('chatnt') is None\n"
        f"spec = importlib.util.spec_from_file_location('chatnt_app', {str(REPO_ROOT / 'app.py')!r})\n"
        "app = importlib.util.module_from_spec(spec); sys.modules['chatnt_app'] = app; spec.loader.exec_module(app)\n"
        "app.ensure_chatnt_importable()\n"
        "import chatnt.fasta\n"
        "print(chatnt.fasta.__file__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(REPO_ROOT / "fasta.py")


def test_a_missing_model_is_one_line_on_stderr_and_exit_code_2(tmp_path, capsys):
    assert app.main(["--model", str(tmp_path / "no-such-model")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("app.py: error: ") and "no-such-model" in error and "Traceback" not in error


@pytest.mark.parametrize("question", [
    "Is the A/T ratio of @seq1 high?",
    "Does @seq1 hold a 5'/3' splice end (yes/no)?",
    "Is @seq1 a donor and/or an acceptor site?",
])
def test_slashes_that_are_not_paths_are_answered(demo, fasta, question):
    reply = demo.respond(question, [fasta(seq1=random_dna(30))], app.SessionState(), with_attribution=False)
    assert reply.answer is not None, reply.text


def test_a_first_turn_yes_no_question_is_encoded_once_for_the_answer_and_its_probability(demo, fasta):
    calls = []
    demo.model.model.dna_encoder.register_forward_hook(lambda module, args, output: calls.append(1))
    expected = classify(demo.model, demo.processor, "Is @seq1 a promoter? Answer yes or no.", {"seq1": random_dna(60)})
    calls.clear()
    reply = demo.respond("Is @seq1 a promoter? Answer yes or no.", [fasta(seq1=random_dna(60))], app.SessionState(),
                         with_attribution=False)
    assert len(calls) == 1  # generation's prompt state carries over to the classifier
    assert reply.confidence["p_positive"] == pytest.approx(expected["p_positive"], abs=1e-5)

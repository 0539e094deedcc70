"""The bad-input table of the user-facing issue, one test per row, at the library level.

Rows: empty file, not a FASTA, duplicate record ids, empty sequence, sequence longer than the encoder's
limit, protein or other alphabets, lowercase/soft-masked DNA (valid), RNA (valid), unknown ``@id``,
``<DNA>`` count mismatch, a model directory missing files, weights that are not safetensors.

Every error must be a ValueError or FileNotFoundError (the command line turns those into exit code 2),
on one line, naming the record or argument at fault and the way out.
"""

import gzip
import os
import pickle
import shutil

import pytest
import torch
from chatnt import ChatNTForConditionalGeneration, ChatNTProcessor, classify, read_fasta
from chatnt.pipeline_chatnt import ChatNTPipeline
from helpers import random_dna
from transformers import pipeline

QUESTION = "Is @seq1 a promoter?"


def raised(error_type, call, *args, **kwargs) -> str:
    """The one-line message of the ``error_type`` that ``call`` raises."""
    with pytest.raises(error_type) as caught:
        call(*args, **kwargs)
    message = str(caught.value)
    assert type(caught.value) is error_type or error_type is ValueError and isinstance(caught.value, ValueError)
    assert "\n" not in message, f"not one line: {message!r}"
    return message


@pytest.fixture
def fasta(tmp_path):
    def write(text: str, name: str = "input.fa"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def chatnt_pipeline(make_model, make_processor):
    processor = make_processor()
    return ChatNTPipeline(model=make_model(), tokenizer=processor.tokenizer, processor=processor)


@pytest.fixture(scope="module")
def saved_dirs(tmp_path_factory, parts):
    """A tiny model saved complete (with its processor), and saved without its decoder, as SFT saves one."""
    root = tmp_path_factory.mktemp("models")
    model, processor = ChatNTForConditionalGeneration.from_encoder_decoder_pretrained(
        parts["encoder"], parts["decoder"], num_latents=4
    )
    model.save_pretrained(root / "complete")
    processor.save_pretrained(root / "complete")
    model.save_pretrained(root / "decoder-free", include_text_model=False)
    processor.save_pretrained(root / "decoder-free")
    return root


def copy_without(saved_dirs, tmp_path, source: str, removed: str):
    target = tmp_path / f"{source}-without-{removed.replace('/', '-')}"
    shutil.copytree(saved_dirs / source, target)
    victim = target / removed
    shutil.rmtree(victim) if victim.is_dir() else victim.unlink()
    return target


# --- FASTA files ----------------------------------------------------------------------------------


def test_empty_file(fasta, make_processor):
    path = fasta("\n\n", name="empty.fa")
    for call in (lambda: read_fasta(path), lambda: make_processor()(QUESTION, str(path))):
        message = raised(ValueError, call)
        assert "empty.fa" in message and "holds no FASTA record" in message
        assert "Pass a file with at least one '>id' header line" in message


@pytest.mark.parametrize(
    "content, expected_fix",
    [
        ("ACGTACGT\n>seq1\nACGT\n", "Add a header such as '>seq1' above the sequence"),
        ("@read1\nACGT\n+\nIIII\n", "It looks like FASTQ: convert it to FASTA"),
        ("id,sequence\nseq1,ACGT\n", "Pass a FASTA file (a '>id' line, then the sequence lines, per record)"),
    ],
    ids=["sequence-without-header", "fastq", "csv"],
)
def test_not_a_fasta(fasta, content, expected_fix):
    path = fasta(content, name="reads.fa")
    message = raised(ValueError, read_fasta, path)
    assert "reads.fa is not a FASTA file: line 1 starts with" in message and expected_fix in message


def test_not_a_fasta_damaged_gzip(tmp_path):
    path = tmp_path / "records.fa.gz"
    path.write_bytes(gzip.compress(b">seq1\n" + b"ACGT" * 1000)[:40])  # cut mid-stream
    message = raised(ValueError, read_fasta, path)
    assert "records.fa.gz is a damaged gzip file" in message and "Compress it again" in message


def test_duplicate_record_ids(fasta, make_processor):
    path = fasta(">seq1 first\nACGT\n>seq2\nGGGG\n>seq1 again\nTTTT\n")
    for call in (lambda: read_fasta(path), lambda: make_processor()(QUESTION, str(path))):
        message = raised(ValueError, call)
        assert "line 5: duplicate record id 'seq1' (first seen on line 1)" in message
        assert "Rename one of them" in message


@pytest.mark.parametrize("source", ["fasta-record", "named-sequence", "positional-sequence"])
def test_empty_sequence(fasta, make_processor, source):
    processor = make_processor()
    if source == "fasta-record":
        path = fasta(">seq1\n>seq2\nACGT\n")
        message = raised(ValueError, processor, QUESTION, str(path))
        assert "line 1: record 'seq1' has no sequence" in message and "Add its sequence lines" in message
    elif source == "named-sequence":
        message = raised(ValueError, processor, QUESTION, {"seq1": ""})
        assert message.startswith("@seq1: DNA sequence is empty") and "Pass at least one nucleotide" in message
    else:
        message = raised(ValueError, processor, "Compare <DNA> and <DNA>.", ["ACGT", ""])
        assert message.startswith("sequence 1: DNA sequence is empty") and "Pass at least one nucleotide" in message


# --- Sequences ------------------------------------------------------------------------------------


def test_sequence_longer_than_the_encoder_limit(make_processor, chatnt_pipeline):
    processor = make_processor(max_dna_tokens=5)
    long = random_dna(60)  # 10 six-mers + <cls> = 11 tokens
    message = raised(ValueError, processor, QUESTION, {"seq1": long})
    assert "@seq1 has 60 bp = 11 DNA tokens, more than the limit of 5 tokens" in message
    assert "Pass truncate_dna=True (CLI: --truncate)" in message
    # The way out works, and only when asked for: truncation is explicit, never silent.
    assert processor(QUESTION, {"seq1": long}, truncate_dna=True)["dna_input_ids"].shape == (1, 5)
    pipe_limit = chatnt_pipeline.processor.max_dna_tokens
    too_long = random_dna(6 * pipe_limit)
    message = raised(ValueError, chatnt_pipeline, QUESTION, dna_sequences={"seq1": too_long}, max_new_tokens=1)
    assert f"more than the limit of {pipe_limit} tokens" in message and "truncate_dna=True" in message
    message = raised(
        ValueError, chatnt_pipeline, QUESTION, dna_sequences={"seq1": too_long}, truncate_dna=True, return_confidence=True
    )
    assert "return_confidence=True cannot be combined with truncate_dna=True" in message and "Cut over-long" in message


@pytest.mark.parametrize(
    "sequence, expected",
    [
        ("MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "It looks like a protein sequence; this model reads DNA or RNA only"),
        ("ACGTRYKMACGT", "IUPAC ambiguity codes: pass replace_unknown_with_n=True"),
        ("ACGT--ACGT", "alignment gaps or stop marks: remove them"),
        ("1 acgtacgtac gtacgt\n61 acgt", "Remove the position numbers"),
        ("ACGTACGT\nACGTACGT", "Remove spaces and line breaks"),
        (">seq1\nACGT", "It looks like FASTA text: read it with parse_fasta_text()"),
        ("ACGTXZ", "Allowed: A, C, G, T, U (read as T) and N, in any case"),
    ],
    ids=["protein", "iupac", "gaps", "genbank-numbers", "line-breaks", "fasta-text", "other-letters"],
)
def test_protein_or_other_alphabets(make_processor, sequence, expected):
    message = raised(ValueError, make_processor(), QUESTION, {"seq1": sequence})
    assert message.startswith("@seq1: DNA sequence contains characters that are not nucleotides") and expected in message


def test_protein_in_a_fasta_file_through_the_pipeline(fasta, chatnt_pipeline):
    path = fasta(">seq1\nACGTACGTACGT\n>spike\nMFVFLVLLPLVSSQCVNLTTRTQLPPAYTNSF\n")
    message = raised(ValueError, chatnt_pipeline, "Is @spike a promoter?", dna_sequences=str(path), max_new_tokens=1)
    assert message.startswith("@spike: ") and "looks like a protein sequence" in message


def test_protein_is_refused_where_unknown_letters_are_read_as_n(make_model, make_processor):
    """classify (and training) read IUPAC codes as N; a protein must not pass as a run of Ns."""
    protein = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
    processor = make_processor()
    message = raised(ValueError, processor, QUESTION, {"seq1": protein}, replace_unknown_with_n=True)
    assert message.startswith("@seq1: DNA sequence is mostly letters that are not nucleotides")
    assert "It looks like a protein sequence" in message
    message = raised(ValueError, classify, make_model(), processor, QUESTION, {"seq1": protein})
    assert "@seq1" in message and "It looks like a protein sequence" in message
    # The opt-in still reads the odd ambiguity code as N.
    as_n = processor(QUESTION, {"seq1": "ACGTRACGTY"}, replace_unknown_with_n=True)["dna_input_ids"]
    assert torch.equal(as_n, processor(QUESTION, {"seq1": "ACGTNACGTN"})["dna_input_ids"])


@pytest.mark.parametrize("file_name", ["seqs.fastq", "notes.txt"])  # suffixes that are not read as FASTA
def test_file_name_given_where_a_sequence_is_expected(tmp_path, make_processor, file_name):
    path = tmp_path / file_name
    path.write_text(">seq1\nACGT\n")
    message = raised(ValueError, make_processor(), "Is <DNA> a promoter?", [str(path)])
    assert "is a file name, not a DNA sequence" in message and "rename it, or pass read_fasta(path)" in message
    message = raised(ValueError, make_processor(), "Is <DNA> a promoter?", str(path))
    assert "is a file name, not a DNA sequence" in message and "rename it, or pass read_fasta(path)" in message


def test_lowercase_and_soft_masked_dna_is_valid(fasta, make_processor):
    """Soft-masked (lower-case) bases are DNA: read in upper case, same tokens as the upper-case sequence."""
    upper = "ACGTACGTTTGACAATCGNNACG"
    soft_masked = "ACGTacgtttgacaATCGnnacg"
    processor = make_processor()
    from_file = processor(QUESTION, str(fasta(f">seq1\n{soft_masked[:10]}\n{soft_masked[10:]}\n")))
    expected = processor(QUESTION, {"seq1": upper})
    assert torch.equal(from_file["dna_input_ids"], expected["dna_input_ids"])
    assert torch.equal(processor(QUESTION, {"seq1": upper.lower()})["dna_input_ids"], expected["dna_input_ids"])


def test_rna_is_valid(chatnt_pipeline, make_processor):
    """RNA is read as DNA: U (either case) becomes T."""
    dna = "ACGTACGTTTGACAATCG"
    rna = "ACGUACGUUUGACAAUCG"
    processor = make_processor()
    expected = processor(QUESTION, {"seq1": dna})["dna_input_ids"]
    assert torch.equal(processor(QUESTION, {"seq1": rna})["dna_input_ids"], expected)
    assert torch.equal(processor(QUESTION, {"seq1": rna.lower()})["dna_input_ids"], expected)
    answer = chatnt_pipeline(QUESTION, dna_sequences={"seq1": rna}, max_new_tokens=2, do_sample=False)
    assert answer == chatnt_pipeline(QUESTION, dna_sequences={"seq1": dna}, max_new_tokens=2, do_sample=False)


# --- Questions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["processor", "pipeline"])
def test_unknown_id(fasta, make_processor, chatnt_pipeline, api):
    path = str(fasta(">promoter_1\nACGTACGT\n>promoter_2\nGGGGCCCC\n"))
    call = make_processor() if api == "processor" else chatnt_pipeline
    message = raised(ValueError, call, "Is @promoter_3 a promoter?", path)
    assert "unknown sequence reference @promoter_3. Known names: @promoter_1, @promoter_2." in message
    assert "Did you mean" in message
    message = raised(ValueError, call, QUESTION, ["ACGT"])
    assert "unknown sequence reference @seq1: no named sequences were given" in message
    assert "Pass dna_sequences as a dict {name: sequence} or a FASTA path" in message


@pytest.mark.parametrize("api", ["processor", "pipeline"])
def test_an_unknown_name_that_starts_with_a_known_one_is_refused_not_answered_about_the_known_one(
    fasta, make_processor, chatnt_pipeline, api
):
    path = str(fasta(">seq1\nACGTACGTACGTAAAAAAAAACCCCCCC\n>seq2\nGGGGGGGGTTTTTTTTACGTACGT\n"))
    call = make_processor() if api == "processor" else chatnt_pipeline
    message = raised(ValueError, call, "Is @seq10 a promoter? Answer yes or no.", path)
    assert "unknown sequence reference @seq10. Known names: @seq1, @seq2." in message
    message = raised(ValueError, call, "Does @mutant bind better?", {"mut": "ACGTACGTACGT"})
    assert "unknown sequence reference @mutant" in message


def test_tag_rule_keeps_sentence_punctuation_and_dotted_names():
    from chatnt.processing_chatnt import split_tag

    names = {"wt", "seq1", "chr1.fa", "a"}
    assert split_tag("wt.", names) == ("wt", ".")
    assert split_tag("seq1:", names) == ("seq1", ":")
    assert split_tag("seq1..", names) == ("seq1", "..")
    assert split_tag("chr1.fa.", names) == ("chr1.fa", ".")
    assert split_tag("chr1", names) is None  # a name is never a prefix of the tag's own characters
    assert split_tag("seq10", names) is None and split_tag("wtx", names) is None and split_tag("a.b", names) is None
    assert split_tag("...", {"..."}) == ("...", "") and split_tag("...", names) is None


@pytest.mark.parametrize(
    "question, dna, expected",
    [
        ("Is <DNA> a promoter?", 5, "dna_sequences must be a sequence string, a list of them, a dict {name: sequence} "
                                    "or a FASTA path; got int."),
        ("Is <DNA> a promoter?", [None], "dna_sequences[0] is NoneType, not a sequence string"),
        ("Is @a a promoter?", {"a": 5}, "dna_sequences['a'] is int, not a sequence string"),
    ],
)
@pytest.mark.parametrize("api", ["processor", "pipeline"])
def test_dna_sequences_of_the_wrong_type_are_named(make_processor, chatnt_pipeline, api, question, dna, expected):
    call = make_processor() if api == "processor" else chatnt_pipeline
    assert expected in raised(TypeError, call, question, dna)


def test_a_pipeline_input_of_the_wrong_type_is_named(chatnt_pipeline):
    message = raised(TypeError, chatnt_pipeline, 123)
    assert message == ("The ChatNT pipeline takes a question string, a list of chat messages, or a list of either; "
                       "got int.")


def test_a_bad_sequence_in_a_batch_names_its_example(make_processor):
    questions = ["Is <DNA> a promoter?", "Is <DNA> a promoter?"]
    message = raised(ValueError, make_processor(), questions, [["ACGT"], ["ACGTXX"]])
    assert message.startswith("example 1, sequence 0: DNA sequence contains characters that are not nucleotides")
    message = raised(ValueError, make_processor(), ["Is @a ok?", "Is @b ok?"], [{"a": "ACGT"}, {"b": "ACGTZ"}])
    assert message.startswith("example 1, @b: ")


@pytest.mark.parametrize("api", ["processor", "pipeline"])
def test_dna_placeholder_count_mismatch(make_processor, chatnt_pipeline, api):
    call = make_processor() if api == "processor" else chatnt_pipeline
    message = raised(ValueError, call, "Compare <DNA> with <DNA>.", ["ACGT"])
    assert "the text holds 2 <DNA> placeholder(s) but 1 DNA sequence(s) were given" in message
    assert "Put one <DNA> in the question per sequence, in order, or refer to named sequences with @name" in message


# --- Model directories ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, removed, loader",
    [
        ("complete", "config.json", "model"),
        ("complete", "model.safetensors", "model"),
        ("decoder-free", "model.safetensors", "model"),
        ("decoder-free", "new_token_embeddings.safetensors", "model"),
        ("complete", "processor_config.json", "processor"),
        ("complete", "tokenizer.json", "processor"),
        ("complete", "dna_tokenizer", "processor"),
        ("complete", "chat_template.jinja", "processor"),
        ("complete", "dna_tokenizer", "pipeline"),
    ],
)
def test_model_directory_missing_files(saved_dirs, tmp_path, source, removed, loader):
    directory = copy_without(saved_dirs, tmp_path, source, removed)
    load = {
        "model": ChatNTForConditionalGeneration.from_pretrained,
        "processor": ChatNTProcessor.from_pretrained,
        # Hub users: the remote-code copies in the folder run the same checks.
        "pipeline": lambda path: pipeline("text-generation", model=path, trust_remote_code=True),
    }[loader]
    message = raised(FileNotFoundError, load, str(directory))
    assert repr(str(directory)) in message and removed in message
    assert "copy the whole" in message.lower()


@pytest.mark.parametrize("load", [ChatNTForConditionalGeneration.from_pretrained, ChatNTProcessor.from_pretrained])
def test_model_directory_that_does_not_exist(tmp_path, load):
    message = raised(FileNotFoundError, load, str(tmp_path / "no" / "such-model"))
    assert "model directory not found" in message and "such-model" in message
    assert "Pass the folder written by" in message and "checkpoints/chatnt-mini" in message


def test_weights_that_are_not_safetensors(saved_dirs, tmp_path):
    """A pickle-only model folder is refused without being opened: this pickle would create a file if loaded."""
    directory = copy_without(saved_dirs, tmp_path, "complete", "model.safetensors")
    marker = tmp_path / "unpickled"
    with open(directory / "pytorch_model.bin", "wb") as handle:
        pickle.dump(_CreatesFileWhenUnpickled(str(marker)), handle)
    message = raised(ValueError, ChatNTForConditionalGeneration.from_pretrained, str(directory))
    assert "pytorch_model.bin (pickle)" in message and "ChatNT loads only safetensors" in message
    assert "re-save it with save_pretrained, which writes model.safetensors" in message
    assert not marker.exists()
    message = raised(ValueError, ChatNTForConditionalGeneration.from_pretrained, str(saved_dirs / "complete"), use_safetensors=False)
    assert "use_safetensors=False is refused" in message and "Leave use_safetensors out" in message


class _CreatesFileWhenUnpickled:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.mknod, (self.path,))

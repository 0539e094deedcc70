"""The ``text-generation`` pipeline of ChatNT: questions in English plus DNA sequences in, answers out.

Declared under ``custom_pipelines`` in every saved ``config.json``, so
``pipeline("text-generation", model=path, trust_remote_code=True)`` returns it. Stock
``TextGenerationPipeline`` only passes ``input_ids`` to ``generate``; this subclass runs the
ChatNTProcessor, so DNA reaches the model, and batches examples that hold different numbers of
sequences.

Inputs (``pipe(inputs, dna_sequences=..., **generate_kwargs)``):
- a question string, or chat messages (a list of ``{"role", "content"}`` dicts), or a list of either;
- ``dna_sequences``: for one input, a list of sequences (``<DNA>`` placeholders in order), a dict of
  named sequences (``@name`` tags), or a FASTA path; for a list of inputs, one such entry per input;
- the published ChatNT form ``{"english_sequence": "... <DNA> ...", "dna_sequences": [...]}`` (or a list
  of such dicts).

Output: the standard ``[{"generated_text": ...}]`` per input: the answer for a string question, the
conversation with the new assistant message for chat input (``return_full_text=True`` prepends the
question to a string answer, as in the stock pipeline).

``return_confidence=True`` (for yes/no questions) adds the perplexity-based classifier's verdict with its
calibrated probability (``chatnt.perplexity_classifier.classify``): ``label`` ("yes"/"no"),
``probability`` (of that label) and ``calibrated`` (False when the checkpoint has no calibration.json).
The generated text and the classifier are two readings of the model and can disagree; the classifier's
is the one the probability belongs to. Generation and the probability go through ``chatnt.inference``, the
one answering path of the command line and the demo too: for batches of up to 4 prompts the classifier
continues from the prompts' key/value cache that generation computed, so each prompt is encoded once.
"""

from transformers import TextGenerationPipeline
from transformers.pipelines.text_generation import Chat, ReturnType

from .inference import classify, generate, keeps_prompt_state

# Options of ChatNTProcessor.__call__ that the pipeline passes through.
PROCESSOR_OPTIONS = ("truncate_dna", "replace_unknown_with_n")


class ChatNTPipeline(TextGenerationPipeline):
    """Text generation conditioned on DNA sequences (see the module docstring for the input forms)."""

    _load_processor = True
    _load_tokenizer = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.processor is None:
            raise ValueError(
                "The ChatNT pipeline needs the model's ChatNTProcessor: save it next to the model "
                "(processor.save_pretrained(path)) or pass processor=... to pipeline()."
            )

    def _sanitize_parameters(self, return_full_text=None, batch_size=None, **kwargs):
        processor_options = {name: kwargs.pop(name) for name in PROCESSOR_OPTIONS if name in kwargs}
        preprocess, forward, postprocess = super()._sanitize_parameters(return_full_text=return_full_text, **kwargs)
        # The parent copies generation arguments into preprocess; the processor gets only its own options.
        return processor_options, forward, postprocess

    def __call__(
        self, inputs=None, dna_sequences=None, batch_size: int | None = None, return_confidence: bool = False, **kwargs
    ):
        if return_confidence and kwargs.get("truncate_dna"):
            # classify scores the sequences as given; it would reject what generation silently shortened.
            raise ValueError(
                "return_confidence=True cannot be combined with truncate_dna=True: the probability is computed on "
                f"the full sequences. Cut over-long sequences to the model's limit first ({self.processor.max_dna_tokens} "
                "DNA tokens), or leave return_confidence out."
            )
        examples, single = self._examples(inputs, dna_sequences)
        preprocess, forward, postprocess = self._sanitize_parameters(**kwargs)
        preprocess = {**self._preprocess_params, **preprocess}
        forward = {**self._forward_params, **forward}
        postprocess = {**self._postprocess_params, **postprocess}
        batch_size = batch_size or self._batch_size or 1
        results = []
        for start in range(0, len(examples), batch_size):
            chunk = examples[start : start + batch_size]
            model_inputs = self.preprocess(chunk, **preprocess)
            keep_prompt_state = return_confidence and keeps_prompt_state(len(chunk), len(chunk))
            model_outputs = self.forward(model_inputs, **forward, keep_prompt_state=keep_prompt_state)
            for row, prompt in enumerate(model_outputs["prompt_text"]):
                per_example = {
                    "generated_sequence": model_outputs["generated_sequence"][row : row + 1],
                    "input_ids": model_outputs["input_ids"],
                    "prompt_text": prompt,
                }
                # Unless asked otherwise: the answer alone for a question string (as the published ChatNT),
                # the conversation with the new assistant turn for chat input (as the stock pipeline).
                default_type = ReturnType.FULL_TEXT if isinstance(prompt, Chat) else ReturnType.NEW_TEXT
                results.append(self.postprocess(per_example, **{"return_type": default_type, **postprocess}))
            if return_confidence:
                verdicts = classify(
                    self.model, self.processor, [e["question"] for e in chunk], [e["dna_sequences"] for e in chunk],
                    prompt_state=model_outputs["prompt_state"],
                )
                for outputs, verdict in zip(results[start:], verdicts):
                    for output in outputs:
                        output.update(
                            label=verdict["label"], probability=verdict["probability"], calibrated=verdict["calibrated"]
                        )
        return results[0] if single else results

    @staticmethod
    def _examples(inputs, dna_sequences) -> tuple[list[dict], bool]:
        """One ``{"question", "dna_sequences"}`` dict per example, and whether a single input was given."""
        if inputs is None:
            raise ValueError("Pass a question (or chat messages) to the ChatNT pipeline.")

        def published(item):
            return isinstance(item, dict) and "english_sequence" in item

        def is_chat(item):
            return isinstance(item, (list, tuple)) and bool(item) and all(isinstance(m, dict) and "role" in m for m in item)

        if isinstance(inputs, str) or is_chat(inputs) or published(inputs):
            inputs, dna_sequences, single = [inputs], [dna_sequences], True
        elif not isinstance(inputs, (list, tuple)):
            raise TypeError(
                f"The ChatNT pipeline takes a question string, a list of chat messages, or a list of either; got "
                f"{type(inputs).__name__}."
            )
        else:
            single = False
            if dna_sequences is None:
                dna_sequences = [None] * len(inputs)
            elif not isinstance(dna_sequences, (list, tuple)) or len(dna_sequences) != len(inputs):
                given = len(dna_sequences) if isinstance(dna_sequences, (list, tuple)) else type(dna_sequences).__name__
                raise ValueError(
                    f"For {len(inputs)} inputs, pass dna_sequences as a list with one entry per input (got {given}): "
                    "a list of sequences, a dict of named ones or a FASTA path per input."
                )
        examples = []
        for item, dna in zip(inputs, dna_sequences):
            if published(item):
                item, dna = item["english_sequence"], item.get("dna_sequences", dna)
            examples.append({"question": item, "dna_sequences": dna})
        return examples, single

    def preprocess(self, examples, **processor_options):
        model_inputs = self.processor(
            [example["question"] for example in examples],
            [example["dna_sequences"] for example in examples],
            return_tensors="pt",
            **processor_options,
        )
        model_inputs["prompt_text"] = [
            example["question"] if isinstance(example["question"], str) else Chat(example["question"])
            for example in examples
        ]
        return model_inputs

    def _forward(self, model_inputs, keep_prompt_state: bool = False, **generate_kwargs):
        prompt_text = model_inputs.pop("prompt_text")
        generate_kwargs = self._prepare_generate_kwargs(generate_kwargs)
        output, prompt_state = generate(self.model, model_inputs, keep_prompt_state=keep_prompt_state, **generate_kwargs)
        generated = output.sequences
        batch = model_inputs["input_ids"].shape[0]
        return {
            "generated_sequence": generated.reshape(batch, -1, generated.shape[-1]),
            "input_ids": model_inputs["input_ids"],
            "prompt_text": prompt_text,
            "prompt_state": prompt_state,
        }


__all__ = ["ChatNTPipeline"]

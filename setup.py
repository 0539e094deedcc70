"""Installs the repository root as the package ``chatnt``.

The root is also a Hugging Face Hub model repository: the remote-code files
(``configuration_*.py``, ``modeling_*.py``, ``processing_chatnt.py``, ...) stand at the top level and
import each other only relatively, so ``trust_remote_code=True`` can load them without this package.
"""

from setuptools import setup

SUBPACKAGES = ["tasks", "training", "training.dnahlm", "tokenizer", "evaluation", "commands", "genome"]

setup(
    name="chatnt",
    version="0.1.0",
    description="Conversational DNA/RNA language models (ChatNT, RNA-GPT, DNAHLM) for Hugging Face",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=["chatnt"] + [f"chatnt.{name}" for name in SUBPACKAGES],
    package_dir={"chatnt": "."} | {f"chatnt.{name}": name.replace(".", "/") for name in SUBPACKAGES},
    package_data={"chatnt.tokenizer": ["*.json", "*.jinja", "*.md"], "chatnt.training": ["card_templates/*.md"]},
    # Lower bounds are the versions `make test` runs (requirements.lock pins each of these at its bound);
    # `make test-latest` runs the newest releases below the upper bounds. Raise a bound, then `make lock`.
    install_requires=[
        "torch>=2.13.0",
        # 5.24 passes the decoder cache as `cache=` (was `past_key_values=`), which the model follows.
        "transformers>=5.24.0,<6",
        "tokenizers>=0.23.3",
        "peft>=0.21.2",
        "trl>=1.16.0",
        "datasets>=5.2.0",
        "huggingface-hub>=2.4.0",
        "accelerate>=1.16.0",
        "safetensors>=0.8.0",
        "gguf>=0.19.0",
        "numpy>=2.4.6",
        "scikit-learn>=1.9.1",
        "scipy>=1.17.1",
        "rouge-score>=0.1.2",
        "matplotlib>=3.11.2",
        # Sequence logos of attribution maps, and JASPAR motifs for the attribution check.
        "logomaker>=0.8.7",
        "pyjaspar>=4.0.0",
        "tqdm>=4.70.1",
        # The model cards' templates (chatnt/training/card_templates).
        "Jinja2>=3.1.6",
        # Indexed reads of uncompressed genomes (chatnt scan, chatnt variants): a window at a time, not the genome.
        "pyfaidx>=0.9.2.2",
    ],
    # A script rather than a console_scripts entry point: it defers the package's Auto registration, so that
    # `chatnt --help` does not wait seconds for torch and transformers (see bin/chatnt).
    scripts=["bin/chatnt"],
    extras_require={
        # The Gradio demo (app.py, the Hugging Face Space).
        "demo": ["gradio>=6.31.0,<7"],
        # The test suite, the demo's browser test included: Playwright drives the system's chromium.
        # import-linter checks the layers (.importlinter) before the tests run.
        "test": ["pytest>=9.2.0", "gradio>=6.31.0,<7", "playwright>=1.65.2", "hypothesis>=6.170.27",
                 "import-linter>=2.17"],
    },
)
